"""Two hosts of one deployment with no shared disk: one server name, one
signing key, one PostgreSQL database and one S3 bucket (a Ceph RADOS
Gateway), each host its own port and data directory (README, "Scaling
out"). What one host does, the other sees; a host's data directory holds
nothing the other needs; a remote media item is fetched once for both.

The PostgreSQL server is this module's own (tests/pg-server), the Ceph
cluster the session's (cephrgw.py), the federation peer a loopback server
(fedpeer.py); all are stopped by the fixtures, also on failure.

With auth = homeserver the hosts ask a loopback fake homeserver
(webfixture.JsonServer) that counts its whoami calls per token: the
answers are cached in the database (homeserver_auth_cache), so one call
serves both hosts.
"""
import concurrent.futures
import hashlib
import os
import re
import shutil
import threading
import time

import pytest
import requests

import cephrgw
from conftest import PgServer, Stack, free_port
from fedpeer import CertAuthority, FedPeer, Media
from imgfixtures import src_jpeg
from webfixture import JsonServer


@pytest.fixture(scope="module")
def pg():
    server = PgServer()
    yield server
    server.remove()


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    ca = CertAuthority(tmp_path_factory.mktemp("ca"))
    # The programs (not root when the suite is) read the CA file.
    os.chmod(ca.dir, 0o755)
    os.chmod(ca.pem, 0o644)
    return ca


class Deployment:
    """Hosts a and b, the peer they fetch remote media from."""

    def __init__(self, pg, ca, tmp, extra=()):
        self.stacks = []
        self.peer = FedPeer(ca, free_port())
        try:
            self._start(pg, ca, tmp, list(extra))
        except BaseException:
            self.stop()
            raise

    def _start(self, pg, ca, tmp, extra):
        port_a, port_b = free_port(), free_port()
        self.server_name = "hs.test:%d" % port_a
        self.peer.resolve = {self.server_name: ("127.0.0.1", port_a)}
        bucket, s3_lines = cephrgw.session_bucket()
        self.bucket = bucket
        shared = ["database_url = " + pg.new_database(),
                  "federation_ca_file = " + ca.pem,
                  "federation_resolve = %s=127.0.0.1:%d"
                  % (self.peer.server_name, self.peer.port)] + s3_lines + \
            extra
        tls = ca.issue("hs%d" % port_a, dns=["hs.test"])
        self.a = self._host(tmp / "a", shared, tls, port_a)
        # One deployment, one signing key: b starts with a's.
        os.makedirs(tmp / "b")
        key_b = tmp / "b" / "signing.key"
        shutil.copy2(os.path.join(self.a.data_dir, "signing.key"), key_b)
        st = os.stat(os.path.join(self.a.data_dir, "signing.key"))
        os.chown(key_b, st.st_uid, st.st_gid)
        self.b = self._host(tmp / "b", shared, tls, port_b)

    def _host(self, data_dir, shared, tls, port):
        s = Stack(data_dir, shared, procs=4, webserver="lighttpd", tls=tls,
                  server_name=self.server_name, port=port)
        self.stacks.append(s)
        return s

    def stop(self):
        for s in self.stacks:
            s.stop()
        self.peer.stop()


@pytest.fixture
def hosts(pg, ca, tmp_path):
    d = Deployment(pg, ca, tmp_path)
    yield d
    d.stop()


def get(stack, path, token=None, **kw):
    return requests.get(stack.url(path), verify=False, timeout=30,
                        headers=stack.auth(token or stack.token), **kw)


def download_path(server_name, media_id):
    return "/_matrix/client/v1/media/download/%s/%s" % (server_name, media_id)


def upload(stack, data, content_type, token):
    r = requests.post(stack.url("/_matrix/media/v3/upload"), data=data,
                      headers=dict(stack.auth(token),
                                   **{"Content-Type": content_type}),
                      verify=False, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["content_uri"].rsplit("/", 1)[1]


def test_the_hosts_share_one_key(hosts):
    a_key = open(os.path.join(hosts.a.data_dir, "signing.key")).read()
    b_key = open(os.path.join(hosts.b.data_dir, "signing.key")).read()
    assert a_key == b_key
    ka = requests.get(hosts.a.url("/_matrix/key/v2/server"), verify=False,
                      timeout=10).json()
    kb = requests.get(hosts.b.url("/_matrix/key/v2/server"), verify=False,
                      timeout=10).json()
    assert ka["verify_keys"] == kb["verify_keys"]


def test_upload_on_a_is_served_by_b_after_a_is_gone(hosts):
    a, b = hosts.a, hosts.b
    token = a.new_token()
    jpeg = src_jpeg(640, 480, 7)[0]
    media_id = upload(a, jpeg, "image/jpeg", token)
    assert get(a, download_path(hosts.server_name, media_id)).content == jpeg

    a.stop()
    hosts.stacks.remove(a)
    # Nothing of a's data directory is needed by b.
    for name in os.listdir(a.data_dir):
        p = os.path.join(a.data_dir, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)

    r = get(b, download_path(hosts.server_name, media_id))
    assert r.status_code == 200, r.text
    assert r.content == jpeg
    r = get(b, "/_matrix/client/v1/media/thumbnail/%s/%s"
            "?width=96&height=96&method=crop" % (hosts.server_name, media_id))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("image/")
    assert r.content[:2] == b"\xff\xd8" or r.content[:8] == \
        b"\x89PNG\r\n\x1a\n"
    # The bytes came from the bucket: b stores them there too (a
    # thumbnail it made) and keeps no blob of its own outside the cache.
    keys = cephrgw.session_rgw().list_keys(hosts.bucket)
    assert len(keys) >= 2, keys


def test_create_on_b_put_on_a_wakes_a_wait_on_b(hosts):
    a, b = hosts.a, hosts.b
    token = a.new_token()
    r = requests.post(b.url("/_matrix/media/v1/create"),
                      headers=b.auth(token), verify=False, timeout=30)
    assert r.status_code == 200, r.text
    media_id = r.json()["content_uri"].rsplit("/", 1)[1]
    got = {}

    def wait():
        got["r"] = get(b, download_path(hosts.server_name, media_id) +
                       "?timeout_ms=20000", token)
        got["t"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(1)
    assert "r" not in got
    r = requests.put(a.url("/_matrix/media/v3/upload/%s/%s"
                           % (hosts.server_name, media_id)),
                     data=b"put on A", headers=a.auth(token), verify=False,
                     timeout=30)
    put_done = time.monotonic()
    assert r.status_code == 200, r.text
    waiter.join(30)
    assert got["r"].status_code == 200, got["r"].text
    assert got["r"].content == b"put on A"
    assert got["t"] - put_done < 1.5


def test_quarantine_on_a_is_seen_on_b(hosts):
    a, b = hosts.a, hosts.b
    token = a.new_token()
    media_id = upload(b, os.urandom(4096), "application/octet-stream", token)
    assert get(b, download_path(hosts.server_name, media_id)).status_code \
        == 200
    a.admin("quarantine", "mxc://%s/%s" % (hosts.server_name, media_id))
    for s in (a, b):
        r = get(s, download_path(hosts.server_name, media_id))
        assert r.status_code == 404, r.text


def test_one_remote_fetch_for_both_hosts(hosts):
    data = os.urandom(64 * 1024)
    # Slow enough that every request below arrives while it is fetched.
    hosts.peer.media["shared"] = Media(data, "application/x-shared",
                                       "shared.bin", delay=1.5)
    path = download_path(hosts.peer.server_name, "shared")
    targets = [hosts.a, hosts.b] * 3
    with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
        rs = list(pool.map(lambda s: get(s, path), targets))
    assert [r.status_code for r in rs] == [200] * len(rs), \
        [r.text for r in rs]
    assert all(r.content == data for r in rs)
    assert len(hosts.peer.downloads("shared")) == 1, \
        hosts.peer.downloads("shared")


def test_migrate_one_host_into_the_shared_database_and_bucket(pg, make_stack):
    """A one-host deployment (SQLite + files) moves into PostgreSQL + S3
    with migrate-store; a host on the new config serves what the old one
    held with the old tokens; a second run copies nothing; and the way
    back works too."""
    from test_scale_pg import migrate, write_config
    old = make_stack()
    token = old.new_token()
    data = os.urandom(8192)
    jpeg = src_jpeg(320, 240, 11)[0]
    ids = [upload(old, data, "application/octet-stream", token),
           upload(old, jpeg, "image/jpeg", token)]

    bucket, s3_lines = cephrgw.session_bucket()
    scale_lines = ["database_url = " + pg.new_database()] + s3_lines
    new_conf = os.path.join(old.data_dir, "to-scale", "mediarepo.conf")
    write_config(new_conf, old.server_name,
                 scale_lines + ["media_store_path = scale_store"])
    old.give_back()
    first = migrate(old, old.config, new_conf)
    assert first["media"] == (2, 0)
    assert first["blobs"][0] >= 3       # two uploads and their thumbnails
    keys = cephrgw.session_rgw().list_keys(bucket)
    assert len(keys) == first["blobs"][0]
    assert {hashlib.sha256(b).hexdigest() for b in (data, jpeg)} <= set(keys)
    again = migrate(old, old.config, new_conf)
    assert all(c[0] == 0 for c in again.values()), again
    old.stop()

    # A host of the new deployment: the same server name, the old token.
    new = make_stack(scale_lines, server_name=old.server_name)
    for media_id, body in zip(ids, (data, jpeg)):
        r = get(new, download_path(old.server_name, media_id), token)
        assert r.status_code == 200, r.text
        assert r.content == body

    back_conf = os.path.join(new.data_dir, "back", "mediarepo.conf")
    write_config(back_conf, old.server_name, ["media_store_path = back"])
    new.give_back()
    back = migrate(new, new.config, back_conf)
    assert back["media"] == (2, 0)
    assert back["blobs"] == (first["blobs"][0], 0)


# --- auth = homeserver: one whoami cache for both hosts ---

WHOAMI = "/_matrix/client/v3/account/whoami"
HS_NAME = "hs.test"
NEGATIVE_TTL = 5.0      # homeserver_auth_negative_ttl


class CountingHomeserver:
    """whoami for the tokens it knows, 401 M_UNKNOWN_TOKEN for the others
    (500 for all while failing), counting the calls per token. The tokens
    mediarepo-run prints (mr_...) are a user too, so that the hosts'
    start-up check passes."""

    def __init__(self):
        self.users = {}         # token -> user id
        self.counts = {}        # token -> whoami calls
        self.bad_requests = []  # anything but a well-formed whoami
        self.failing = False
        self.lock = threading.Lock()
        self.web = JsonServer(self._answer)

    def _answer(self, req):
        auth = req.headers.get("Authorization", "")
        if req.path != WHOAMI or not auth.startswith("Bearer "):
            with self.lock:
                self.bad_requests.append((req.path, auth))
            return 400, {"errcode": "M_UNRECOGNIZED"}
        token = auth[len("Bearer "):]
        with self.lock:
            self.counts[token] = self.counts.get(token, 0) + 1
            user = self.users.get(token)
            failing = self.failing
        if failing:
            return 500, {"errcode": "M_UNKNOWN", "error": "internal error"}
        if user is None and token.startswith("mr_"):
            user = "@starter:" + HS_NAME
        if user is None:
            return 401, {"errcode": "M_UNKNOWN_TOKEN",
                         "error": "Unknown access token"}
        return 200, {"user_id": user, "device_id": "DEV"}

    def token(self, user=None):
        """A new token, of user's (a localpart) or refused when None."""
        token = "tok_%s" % os.urandom(8).hex()
        if user is not None:
            with self.lock:
                self.users[token] = "@%s:%s" % (user, HS_NAME)
        return token

    def count(self, token):
        with self.lock:
            return self.counts.get(token, 0)


@pytest.fixture(scope="module")
def hs_hosts(pg, ca, tmp_path_factory):
    """Hosts a and b with auth = homeserver, the homeserver they ask."""
    hs = CountingHomeserver()
    try:
        d = Deployment(pg, ca, tmp_path_factory.mktemp("hsauth"), [
            "auth = homeserver",
            "homeserver_url = " + hs.web.url,
            "homeserver_auth_cache_ttl = 60s",
            "homeserver_auth_negative_ttl = %dms" % (NEGATIVE_TTL * 1000)])
        try:
            yield hs, d
        finally:
            d.stop()
    finally:
        hs.web.stop()
    assert hs.bad_requests == []


def config_status(stack, token):
    r = get(stack, "/_matrix/client/v1/media/config", token)
    return r.status_code, r.json().get("errcode")


def test_a_token_a_checked_is_taken_on_b_without_asking(hs_hosts):
    hs, d = hs_hosts
    a, b = d.a, d.b
    alice, bob = hs.token("alice"), hs.token("bob")
    r = requests.post(a.url("/_matrix/media/v1/create"),
                      headers=a.auth(alice), verify=False, timeout=30)
    assert r.status_code == 200, r.text
    media_id = r.json()["content_uri"].rsplit("/", 1)[1]
    assert hs.count(alice) == 1

    # B knows alice's token from A's row: no whoami, and the same user,
    # as only the creator may fill a pending upload (bob may not).
    put = "/_matrix/media/v3/upload/%s/%s" % (d.server_name, media_id)
    r = requests.put(b.url(put), data=b"x", headers=b.auth(bob),
                     verify=False, timeout=30)
    assert r.status_code == 403, r.text
    r = requests.put(b.url(put), data=b"put on B", headers=b.auth(alice),
                     verify=False, timeout=30)
    assert r.status_code == 200, r.text
    line, = [ln for ln in b.read_log().splitlines()
             if r.headers["X-Request-Id"] in ln]
    assert re.search(r" user=@alice:%s( |$)" % re.escape(HS_NAME), line), \
        line
    r = get(b, download_path(d.server_name, media_id), alice)
    assert r.status_code == 200, r.text
    assert r.content == b"put on B"
    assert hs.count(alice) == 1


def test_a_refusal_is_shared_for_the_negative_ttl(hs_hosts):
    """A refused token (401/403 from the homeserver) is cached like an
    accepted one, in the same table, for homeserver_auth_negative_ttl:
    B refuses it without asking until the refusal expires."""
    hs, d = hs_hosts
    bad = hs.token()
    t0 = time.monotonic()
    assert config_status(d.a, bad) == (401, "M_UNKNOWN_TOKEN")
    assert hs.count(bad) == 1
    assert config_status(d.b, bad) == (401, "M_UNKNOWN_TOKEN")
    assert time.monotonic() - t0 < NEGATIVE_TTL - 1, "too slow to tell"
    assert hs.count(bad) == 1
    time.sleep(max(0.0, t0 + NEGATIVE_TTL + 0.5 - time.monotonic()))
    assert config_status(d.b, bad) == (401, "M_UNKNOWN_TOKEN")
    assert hs.count(bad) == 2
    assert config_status(d.a, bad) == (401, "M_UNKNOWN_TOKEN")
    assert hs.count(bad) == 2


def test_a_failing_homeserver_is_not_cached_for_the_other_host(hs_hosts):
    """A 5xx is never the token's fault and never cached: each host asks
    again, and once the homeserver answers, both take the token."""
    hs, d = hs_hosts
    carol = hs.token("carol")
    hs.failing = True
    try:
        assert config_status(d.a, carol)[0] == 503
        assert config_status(d.b, carol)[0] == 503
        assert hs.count(carol) == 2
    finally:
        hs.failing = False
    assert config_status(d.b, carol) == (200, None)
    assert config_status(d.a, carol) == (200, None)
    assert hs.count(carol) == 3
