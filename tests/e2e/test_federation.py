"""Federation end to end (spec.md 3 and 4): real stacks over TLS, and an
independent peer written with matrix.org's signedjson/PyNaCl (fedpeer.py).

One module-wide World makes a test CA, picks the ports and server names of
every stack and peer up front (so each stack's federation_resolve names all
of them), starts the peers, and starts stacks on first use:

  hs1, hs2   plain stacks that fetch each other's media
  hs3        serve_federation_media_v1 = false (MSC1902 fallback)
  hs4        both federation media APIs off (legacy v3 fallback)
  lim        the limits: max_remote_media_size, federation_timeout,
             ip_range_whitelist, prevent_media_downloads_from,
             federation_blocked_servers

Stacks serve HTTPS with certificates for DNS:<name>.test from the test CA,
and trust it through federation_ca_file. Our own client calls to them use
verify=False (the URL host is 127.0.0.1); the peer talks to them with the
CA checked against the server name, as a federating server would.

Everything listens on loopback and is stopped when the module ends.
"""
import concurrent.futures
import hashlib
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.parse

import pytest
import requests
import signedjson.key
from PIL import Image

from conftest import RUN, Stack, free_port
from fedpeer import (CertAuthority, FedPeer, Media, PlainServer,
                     SilentServer, parse_xmatrix, xmatrix_header)

pytestmark = pytest.mark.filterwarnings(
    "ignore::urllib3.exceptions.InsecureRequestWarning")

V3 = "/_matrix/media/v3"
V1 = "/_matrix/client/v1/media"
FED_V1 = "/_matrix/federation/v1/media"
MSC1902_PREFIXES = ["/_matrix/federation/v1",
                    "/_matrix/federation/unstable/org.matrix.msc1902"]

# Every byte value, and text that looks like multipart framing.
BODY = (bytes(range(256)) * 4 +
        b"\r\n--gc0p4Jq0M2Yt08jU534c0p\r\nContent-Type: text/html\r\n\r\n"
        b"<b>not a part</b>\r\n--gc0p4Jq0M2Yt08jU534c0p--\r\n")

LOG_RE = re.compile(r"^mediarepo (\S+) \S+: (\S+) (\S+) (\d{3}) ", re.M)


# --- stacks over TLS ---------------------------------------------------------

class FedStack(Stack):
    """Stack on a chosen port and server name, serving HTTPS (TLS_CERT and
    TLS_KEY for mediarepo-run). Client helpers skip certificate checks."""

    def __init__(self, data_dir, server_name, port, cert, key,
                 extra_config=(), procs=2):
        self.data_dir = str(data_dir)
        self.port = port
        self.server_name = server_name
        self.base = "https://127.0.0.1:%d" % port
        self.config = os.path.join(self.data_dir, "mediarepo.conf")
        self.env = dict(os.environ, MEDIAREPO_CONFIG=self.config)
        os.makedirs(self.data_dir, exist_ok=True)
        self.admin("init-config", self.config, self.server_name)
        with open(self.config, "a") as f:
            f.write("xsendfile = x-sendfile\n")
            for line in extra_config:
                f.write(line + "\n")
        self.log_path = os.path.join(self.data_dir, "run.log")
        self.log = open(self.log_path, "w")
        # Started as root, the programs run as mediarepo (README,
        # "Security"): they must reach the data and read the CA.
        self.webserver = "lighttpd"
        self.verify = False
        self.run_owner = "mediarepo:www-data"
        if os.geteuid() == 0:
            self._let_apache_user_in()
        env = dict(self.env, DATA_DIR=self.data_dir, PORT=str(port),
                   SERVER_NAME=server_name, PROCS=str(procs),
                   TLS_CERT=cert, TLS_KEY=key, WEBSERVER="lighttpd")
        self.proc = subprocess.Popen([RUN], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self.token = self._wait_ready()
        except Exception:
            self.stop()
            raise

    def _wait_ready(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mediarepo-run exited: " + self.read_log())
            m = re.search(r"token for \S+: (\S+)", self.read_log())
            if m and os.geteuid() == 0 and \
                    not getattr(self, "apache_user_owns_data", False):
                self.apache_user_owns_data = True
                self._chown_outside_paths()
            if m:
                try:
                    r = requests.get(self.base + "/_matrix/media/v3/config",
                                     headers=self.auth(m.group(1)),
                                     timeout=2, verify=False)
                    if r.status_code == 200:
                        return m.group(1)
                except requests.ConnectionError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("stack did not start: " + self.read_log())

    def get(self, path, token=None, timeout=20, **kw):
        headers = self.auth(token) if token else {}
        return requests.get(self.url(path), headers=headers, timeout=timeout,
                            verify=False, **kw)

    def upload(self, data, content_type="application/octet-stream",
               filename=None):
        params = {"filename": filename} if filename is not None else None
        r = requests.post(self.url(V3 + "/upload"), params=params, data=data,
                          headers=dict(self.auth(self.token),
                                       **{"Content-Type": content_type}),
                          timeout=30, verify=False)
        assert r.status_code == 200, r.text
        uri = r.json()["content_uri"]
        assert uri.startswith("mxc://%s/" % self.server_name)
        return uri[len("mxc://%s/" % self.server_name):]

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    # --- the request log (one line per request, from every program)

    def requests_log(self, program=None):
        """[(program, method, path, status)] in log order."""
        return [(p, m, path, int(s))
                for p, m, path, s in LOG_RE.findall(self.read_log())
                if program is None or p == program]

    def fed_log(self, media_id=None):
        """Federation requests this stack answered (for media_id)."""
        return [(path, s) for p, m, path, s in self.requests_log()
                if p.startswith("federation_") and
                (media_id is None or path.endswith("/" + media_id))]

    def wait_log(self, pred, timeout=5):
        """Log lines matching pred, once there is at least one."""
        deadline = time.time() + timeout
        while True:
            lines = [e for e in self.requests_log() if pred(e)]
            if lines or time.time() > deadline:
                return lines
            time.sleep(0.05)

    def store_files(self):
        """Every file of the media store but in-flight temp files."""
        store = self.admin("config-get", "media_store_path").stdout.strip()
        out = set()
        for d, _, files in os.walk(store):
            out.update(os.path.join(d, f) for f in files)
        return out


STACK_CONFIG = {
    "hs1": [],
    "hs2": [],
    "hs3": ["serve_federation_media_v1 = false"],
    "hs4": ["serve_federation_media_v1 = false",
            "serve_federation_remote_media = false"],
    # The prevented and blocked names are filled in by World.
    "lim": ["max_remote_media_size = 4096", "federation_timeout = 2s",
            "ip_range_whitelist = 127.0.0.3/32"],
}
# hs2: 8 processes, 6 of which may wait (README, "Abuse and limits"):
# room for the five concurrent requests of test_parallel_requests_make_one_fetch.
STACK_PROCS = {"hs2": 8}
PEERS = ["peer", "expired", "prevented", "slow", "wrongname", "otherca"]


class World:
    def __init__(self, tmp_factory):
        self.tmp = tmp_factory
        self.ca = CertAuthority(tmp_factory.mktemp("ca"))
        # The programs (not root when the suite is) read the CA file.
        os.chmod(self.ca.dir, 0o755)
        os.chmod(self.ca.pem, 0o644)
        self.ports = {k: free_port() for k in list(STACK_CONFIG) + PEERS}
        self.names = {k: "%s.test:%d" % (k, p) for k, p in self.ports.items()}
        self.resolve = ", ".join("%s=127.0.0.1:%d" % (self.names[k], p)
                                 for k, p in self.ports.items())
        self.stacks = {}
        self.servers = []
        self.peers = {}
        try:
            self._start_peers()
        except Exception:
            self.stop()
            raise

    def _peer(self, key, **kw):
        p = FedPeer(self.ca, self.ports[key], host=key + ".test", **kw)
        self.servers.append(p)
        p.resolve = {self.names[k]: ("127.0.0.1", self.ports[k])
                     for k in STACK_CONFIG}
        self.peers[key] = p
        return p

    def _start_peers(self):
        self._peer("peer")
        # Publishes keys whose valid_until_ts is an hour ago.
        self._peer("expired", key_valid_ms=-3600_000)
        self._peer("prevented")
        # TLS that must not be accepted: a certificate for another name,
        # and one from a CA the stacks do not trust.
        self._peer("wrongname", cert=self.ca.issue("wrongname-cert",
                                                   dns=["other.test"]))
        other = CertAuthority(self.tmp.mktemp("otherca"))
        self._peer("otherca",
                   cert=other.issue("otherca", dns=["otherca.test"]))
        self.slow = SilentServer("127.0.0.1", self.ports["slow"])
        self.servers.append(self.slow)

    def stack(self, key):
        if key not in self.stacks:
            cert, tls_key = self.ca.issue(key, dns=[key + ".test"])
            extra = ["federation_ca_file = " + self.ca.pem,
                     "federation_resolve = " + self.resolve]
            extra += STACK_CONFIG[key]
            if key == "lim":
                extra += ["prevent_media_downloads_from = " +
                          self.names["prevented"],
                          "federation_blocked_servers = " +
                          self.names["peer"]]
            self.stacks[key] = FedStack(self.tmp.mktemp(key), self.names[key],
                                        self.ports[key], cert, tls_key, extra,
                                        STACK_PROCS.get(key, 2))
        return self.stacks[key]

    def stop(self):
        for s in self.stacks.values():
            s.stop()
        for srv in self.servers:
            srv.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory)
    yield w
    w.stop()


@pytest.fixture(scope="module")
def hs1(world):
    return world.stack("hs1")


@pytest.fixture(scope="module")
def hs2(world):
    return world.stack("hs2")


@pytest.fixture(scope="module")
def lim(world):
    return world.stack("lim")


@pytest.fixture(scope="module")
def peer(world):
    return world.peers["peer"]


@pytest.fixture
def cdn():
    """Plain HTTP servers on other loopback addresses, stopped after."""
    made = []

    def make(addr, routes):
        s = PlainServer(addr, 0, routes)
        s.port = s.httpd.server_address[1]
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


# --- helpers -----------------------------------------------------------------

_n = iter(range(1, 1 << 30))


def unique(data):
    """data made distinct, so no two tests share a blob."""
    return data + b"#%d-%d" % (os.getpid(), next(_n))


def png(w, h, seed=0):
    im = Image.new("RGB", (w, h))
    im.putdata([((x * 7 + seed) % 256, (y * 5) % 256, (x * y + seed) % 256)
                for y in range(h) for x in range(w)])
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def image_size(data):
    return Image.open(io.BytesIO(data)).size


def assert_matrix_error(r, status, errcode=None):
    body = r.content
    assert r.status_code == status, (r.status_code, body[:300])
    assert r.headers["Content-Type"].startswith("application/json")
    obj = json.loads(body)
    if errcode is not None:
        assert obj["errcode"] == errcode, obj


def disposition_filename(value):
    m = re.search(r"filename\*\s*=\s*utf-8''([^;\s]+)", value, re.I)
    if m:
        return urllib.parse.unquote(m.group(1), errors="strict")
    m = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"', value)
    if m:
        return re.sub(r"\\(.)", r"\1", m.group(1))
    m = re.search(r"filename\s*=\s*([^;\s]+)", value)
    return m.group(1) if m else None


def multipart_boundary(content_type):
    m = re.fullmatch(r'multipart/mixed;\s*boundary=(?:"([^"]+)"|([^";\s]+))',
                     content_type)
    assert m, content_type
    return m.group(1) or m.group(2)


def parse_multipart(body, boundary):
    """Strict RFC 2046 framing: CRLF line ends, no preamble, every
    delimiter line ends in CRLF, parts end at CRLF--boundary, and the body
    ends with the close delimiter --boundary-- (and an optional CRLF).
    Returns [(headers with lower-case names, body bytes)]."""
    delim = b"--" + boundary.encode()
    assert body.startswith(delim), body[:80]
    parts, pos = [], len(delim)
    while True:
        if body[pos:pos + 2] == b"--":
            assert body[pos + 2:] in (b"", b"\r\n"), body[pos:pos + 80]
            return parts
        assert body[pos:pos + 2] == b"\r\n", body[pos:pos + 80]
        pos += 2
        end = body.find(b"\r\n" + delim, pos)
        assert end >= 0, "no closing delimiter"
        head, sep, content = body[pos:end].partition(b"\r\n\r\n")
        assert sep, "part without a blank line after its headers"
        assert b"\n" not in head.replace(b"\r\n", b""), head
        headers = {}
        for line in head.split(b"\r\n"):
            name, colon, value = line.decode().partition(":")
            assert colon and name == name.strip(), line
            headers[name.lower()] = value.strip()
        parts.append((headers, content))
        pos = end + 2 + len(delim)


def media_part(r):
    """The two parts of a federation v1 answer, checked; the second."""
    assert r.status_code == 200, (r.status_code, r.content[:300])
    parts = parse_multipart(r.content,
                            multipart_boundary(r.headers["Content-Type"]))
    assert len(parts) == 2, parts
    meta_headers, meta = parts[0]
    assert meta_headers == {"content-type": "application/json"}
    assert json.loads(meta) == {}
    return parts[1]


def dl(s, media_id, server=None, prefix=V3):
    return "%s/download/%s/%s" % (prefix, server or s.server_name, media_id)


# --- 1. two stacks -----------------------------------------------------------

@pytest.mark.parametrize("prefix", [V3, V1])
def test_remote_download_keeps_bytes_and_headers_then_is_cached(hs1, hs2,
                                                                prefix):
    data = unique(BODY)
    mid = hs1.upload(data, "application/x-fed-test",
                     filename="f\u00e9d\u00e9r\u00e9 blob.bin")
    origin = hs1.get(dl(hs1, mid, prefix=V1), token=hs1.token)
    assert origin.status_code == 200 and origin.content == data
    token = hs2.token if prefix == V1 else None

    r = hs2.get(dl(hs2, mid, hs1.server_name, prefix), token=token)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["Content-Type"] == "application/x-fed-test"
    assert r.headers["Content-Type"] == origin.headers["Content-Type"]
    assert (disposition_filename(r.headers["Content-Disposition"]) ==
            "f\u00e9d\u00e9r\u00e9 blob.bin")
    assert (r.headers["Content-Disposition"] ==
            origin.headers["Content-Disposition"])
    # hs2 asked hs1 once, on the v1 federation API, and was let in after
    # hs1 fetched hs2's key.
    assert hs2.requests_log("keys")
    lines = hs1.wait_log(lambda e: e[0] == "federation_download" and
                         e[2].endswith("/" + mid))
    assert [(m, p, s) for _, m, p, s in lines] == [
        ("GET", FED_V1 + "/download/" + mid, 200)]

    again = hs2.get(dl(hs2, mid, hs1.server_name, prefix), token=token)
    assert again.status_code == 200 and again.content == data
    assert again.headers["Content-Type"] == r.headers["Content-Type"]
    time.sleep(0.3)
    assert hs1.fed_log(mid) == [(FED_V1 + "/download/" + mid, 200)]


def test_remote_thumbnail_is_made_locally(hs1, hs2):
    mid = hs1.upload(png(200, 100, seed=3), "image/png", filename="p.png")
    thumbs_before = hs1.requests_log("federation_thumbnail")
    for prefix, token in ((V3, None), (V1, hs2.token)):
        r = hs2.get("%s/thumbnail/%s/%s?width=32&height=32&method=crop"
                    % (prefix, hs1.server_name, mid), token=token)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"] in ("image/png", "image/jpeg")
        assert image_size(r.content) == (32, 32)
    time.sleep(0.3)
    assert hs1.requests_log("federation_thumbnail") == thumbs_before
    # The original came over once; the thumbnails were cut on hs2.
    assert hs1.fed_log(mid) == [(FED_V1 + "/download/" + mid, 200)]


def test_remote_media_unknown_on_origin_is_404(hs1, hs2):
    r = hs2.get(dl(hs2, "NoSuchMediaHere", hs1.server_name))
    assert_matrix_error(r, 404, "M_NOT_FOUND")


def test_remote_media_with_quarantined_bytes_is_not_kept(hs2, peer):
    """Bytes an operator quarantined do not come back as remote media: the
    fetch is refused like a missing file, remembered as one, and no row or
    file is left."""
    data = unique(b"quarantined on hs2, offered by the peer")
    h = hashlib.sha256(data).hexdigest()
    assert "quarantined 0 media" in hs2.admin("quarantine", "--hash",
                                              h).stdout
    peer.media["pmbanned"] = Media(data, "text/plain", None)
    try:
        for prefix, token in ((V3, None), (V1, hs2.token)):
            r = hs2.get(dl(hs2, "pmbanned", peer.server_name, prefix),
                        token=token)
            assert_matrix_error(r, 404, "M_NOT_FOUND")
        # The refusal is cached like the origin's 404: asked once.
        assert len(peer.downloads("pmbanned")) == 1
        store = hs2.admin("config-get", "media_store_path").stdout.strip()
        assert not os.path.exists(os.path.join(store, h[:2], h[2:4], h))
        db = hs2.admin("config-get", "database_path").stdout.strip()
        conn = sqlite3.connect(db, timeout=10)
        try:
            assert conn.execute(
                "SELECT count(*) FROM media WHERE sha256 = ? OR "
                "media_id = 'pmbanned'", (h,)).fetchone()[0] == 0
        finally:
            conn.close()
    finally:
        hs2.admin("unquarantine", "--hash", h)


# --- 1b. signed requests to hs1, made by the peer ----------------------------

def test_federation_v1_download_is_strict_multipart(hs1, peer):
    data = unique(BODY)
    mid = hs1.upload(data, "text/plain; charset=utf-8", filename="notes.txt")
    client = hs1.get(dl(hs1, mid, prefix=V1), token=hs1.token)
    r = peer.request(hs1.server_name, FED_V1 + "/download/" + mid)
    headers, content = media_part(r)
    assert content == data
    assert "location" not in headers
    assert headers["content-type"] == client.headers["Content-Type"]
    assert (headers["content-disposition"] ==
            client.headers["Content-Disposition"])
    assert r.headers.get("Location") is None
    # hs1 checked our signature against the key we publish.
    assert peer.seen(lambda q: q["path"] == "/_matrix/key/v2/server" and
                     q["headers"].get("Host") == peer.server_name)


def test_federation_v1_thumbnail_matches_client_thumbnail(hs1, peer):
    mid = hs1.upload(png(300, 200, seed=9), "image/png")
    q = "?width=32&height=32&method=crop"
    client = hs1.get("%s/thumbnail/%s/%s%s" % (V1, hs1.server_name, mid, q),
                     token=hs1.token)
    assert client.status_code == 200
    r = peer.request(hs1.server_name, FED_V1 + "/thumbnail/" + mid + q)
    headers, content = media_part(r)
    assert content == client.content
    assert headers["content-type"] == client.headers["Content-Type"]
    assert image_size(content) == (32, 32)


HEADERS_LIKE_CLIENT = ["Content-Type", "Content-Disposition",
                       "Content-Length", "Content-Security-Policy",
                       "X-Content-Type-Options", "ETag", "Cache-Control",
                       "Cross-Origin-Resource-Policy"]


@pytest.mark.parametrize("prefix", MSC1902_PREFIXES)
def test_msc1902_remote_media_download_is_raw_bytes(hs1, peer, prefix):
    data = unique(BODY)
    mid = hs1.upload(data, "application/x-fed-test", filename="raw.bin")
    client = hs1.get(dl(hs1, mid, prefix=V1), token=hs1.token)
    r = peer.request(hs1.server_name, "%s/remote_media/download/%s/%s"
                     % (prefix, hs1.server_name, mid))
    assert r.status_code == 200, r.content[:300]
    assert r.content == data
    for h in HEADERS_LIKE_CLIENT:
        assert r.headers.get(h) == client.headers.get(h), h


@pytest.mark.parametrize("prefix", MSC1902_PREFIXES)
def test_msc1902_remote_media_thumbnail_is_raw_image(hs1, peer, prefix):
    mid = hs1.upload(png(120, 90, seed=4), "image/png")
    q = "?width=32&height=32&method=crop"
    client = hs1.get("%s/thumbnail/%s/%s%s" % (V1, hs1.server_name, mid, q),
                     token=hs1.token)
    r = peer.request(hs1.server_name, "%s/remote_media/thumbnail/%s/%s%s"
                     % (prefix, hs1.server_name, mid, q))
    assert r.status_code == 200, r.content[:300]
    assert r.content == client.content
    assert r.headers["Content-Type"] == client.headers["Content-Type"]


def test_federation_never_proxies_other_origins(hs1, hs2, peer):
    """hs1 holds a cached copy of hs2's media, yet will not hand it out on
    the federation API: only its own media (spec 3.1, MSC1902)."""
    mid = hs2.upload(unique(b"hs2 media"), "text/plain")
    assert hs1.get(dl(hs1, mid, hs2.server_name)).status_code == 200
    fed_before = hs2.fed_log()
    for prefix in MSC1902_PREFIXES:
        for kind, q in (("download", ""),
                        ("thumbnail", "?width=32&height=32")):
            r = peer.request(hs1.server_name, "%s/remote_media/%s/%s/%s%s"
                             % (prefix, kind, hs2.server_name, mid, q))
            assert_matrix_error(r, 404, "M_NOT_FOUND")
    r = peer.request(hs1.server_name, "%s/remote_media/download/%s/x"
                     % (MSC1902_PREFIXES[0], peer.server_name))
    assert_matrix_error(r, 404, "M_NOT_FOUND")
    # The v1 id space is hs1's own: hs2's id is unknown there.
    r = peer.request(hs1.server_name, FED_V1 + "/download/" + mid)
    assert_matrix_error(r, 404, "M_NOT_FOUND")
    time.sleep(0.3)
    assert hs2.fed_log() == fed_before
    assert not peer.downloads("x")


@pytest.mark.parametrize("path", [
    FED_V1 + "/download/NoSuchMedia",
    FED_V1 + "/thumbnail/NoSuchMedia?width=32&height=32",
    "/_matrix/federation/v1/remote_media/download/{hs1}/NoSuchMedia",
    "/_matrix/federation/unstable/org.matrix.msc1902/remote_media/"
    "download/{hs1}/NoSuchMedia",
])
def test_unknown_media_id_is_404(hs1, peer, path):
    r = peer.request(hs1.server_name, path.format(hs1=hs1.server_name))
    assert_matrix_error(r, 404, "M_NOT_FOUND")


# --- 1c. fallbacks -----------------------------------------------------------

def test_fallback_to_msc1902_when_v1_is_off(world, hs2, peer):
    hs3 = world.stack("hs3")
    data = unique(BODY)
    mid = hs3.upload(data, "application/x-fed-test", filename="fb.bin")
    r = peer.request(hs3.server_name, FED_V1 + "/download/" + mid)
    assert_matrix_error(r, 404, "M_UNRECOGNIZED")
    hs3_before = len(hs3.fed_log(mid))

    r = hs2.get(dl(hs2, mid, hs3.server_name))
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["Content-Type"] == "application/x-fed-test"
    assert disposition_filename(r.headers["Content-Disposition"]) == "fb.bin"
    lines = hs3.wait_log(lambda e: "/remote_media/" in e[2] and
                         e[2].endswith(mid))
    assert hs3.fed_log(mid)[hs3_before:] == [
        (FED_V1 + "/download/" + mid, 404),
        ("/_matrix/federation/v1/remote_media/download/%s/%s"
         % (hs3.server_name, mid), 200)], lines


def test_fallback_to_legacy_download_when_both_are_off(world, hs2):
    hs4 = world.stack("hs4")
    data = unique(BODY)
    mid = hs4.upload(data, "application/x-fed-test", filename="legacy.bin")
    r = hs2.get(dl(hs2, mid, hs4.server_name))
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["Content-Type"] == "application/x-fed-test"
    assert (disposition_filename(r.headers["Content-Disposition"]) ==
            "legacy.bin")
    hs4.wait_log(lambda e: e[0] == "download" and e[2].endswith(mid))
    seen = [(m, p, s) for prog, m, p, s in hs4.requests_log()
            if p.endswith("/" + mid) and prog != "upload"]
    assert ("GET", FED_V1 + "/download/" + mid, 404) in seen, seen
    assert ("GET", "/_matrix/federation/v1/remote_media/download/%s/%s"
            % (hs4.server_name, mid), 404) in seen, seen
    assert ("GET", "%s/download/%s/%s" % (V3, hs4.server_name, mid),
            200) in seen, seen


def test_fallback_order_and_allow_remote_false_seen_by_peer(hs2, peer):
    """The peer sees the whole sequence with query strings: v1, then
    MSC1902, both signed, then legacy v3 with allow_remote=false."""
    data = unique(b"legacy-only media")
    peer.media["legacyonly"] = Media(data, "text/plain", "old.txt",
                                     apis=("legacy",))
    r = hs2.get(dl(hs2, "legacyonly", peer.server_name))
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["Content-Type"] == "text/plain"
    seen = peer.downloads("legacyonly")
    assert [q["path"] for q in seen] == [
        "/_matrix/federation/v1/media/download/legacyonly",
        "/_matrix/federation/v1/remote_media/download/%s/legacyonly"
        % peer.server_name,
        "/_matrix/media/v3/download/%s/legacyonly?allow_remote=false"
        % peer.server_name]
    assert [q["verified"] for q in seen[:2]] == [True, True], seen


def test_not_found_on_v1_does_not_fall_back(hs2, peer):
    """404 M_NOT_FOUND means "no such media", not "no such API"."""
    r = hs2.get(dl(hs2, "absent", peer.server_name))
    assert_matrix_error(r, 404, "M_NOT_FOUND")
    assert [q["path"] for q in peer.downloads("absent")] == [
        "/_matrix/federation/v1/media/download/absent"]


# --- 1d. what the peer's multipart may look like ----------------------------

def _mp(b, second, data, end="\r\n--%s--\r\n", preamble=""):
    return ((preamble + "--%s\r\nContent-Type: application/json\r\n\r\n{}"
             "\r\n--%s\r\n%s\r\n" % (b, b, second)).encode() + data +
            end.replace("%s", b).encode())


ACCEPTED_MULTIPART = {
    # The spec's own examples end with --boundary, no close delimiter.
    "spec-example-ending": lambda d: (
        "multipart/mixed; boundary=gc0p4Jq0M2Yt08jU534c0p",
        _mp("gc0p4Jq0M2Yt08jU534c0p", "Content-Type: text/x-peer\r\n", d,
            end="\r\n--%s")),
    "quoted-boundary": lambda d: (
        'multipart/mixed; boundary="q:b0und"',
        _mp("q:b0und", "Content-Type: text/x-peer\r\n", d)),
    "preamble-and-header-case": lambda d: (
        "Multipart/Mixed; BOUNDARY=xyz",
        _mp("xyz", "content-type: text/x-peer\r\n", d,
            preamble="This is a preamble.\r\n")),
}


@pytest.mark.parametrize("shape", sorted(ACCEPTED_MULTIPART))
def test_peer_multipart_variants_are_accepted(hs2, peer, shape):
    data = unique(b"variant " + shape.encode())
    ct, body = ACCEPTED_MULTIPART[shape](data)
    mid = "ok-" + shape
    peer.media[mid] = Media(respond=(200, [("Content-Type", ct)], body))
    r = hs2.get(dl(hs2, mid, peer.server_name))
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["Content-Type"] == "text/x-peer"


REFUSED_MULTIPART = {
    "one-part": lambda d: (
        "multipart/mixed; boundary=B",
        b"--B\r\nContent-Type: application/json\r\n\r\n{}\r\n--B--\r\n"),
    "three-parts": lambda d: (
        "multipart/mixed; boundary=B",
        _mp("B", "Content-Type: text/plain\r\n", d,
            end="\r\n--%s\r\nContent-Type: text/plain\r\n\r\nmore"
                "\r\n--B--\r\n")),
    "truncated": lambda d: (
        "multipart/mixed; boundary=B",
        _mp("B", "Content-Type: text/plain\r\n", d, end="")),
    "no-boundary": lambda d: (
        "multipart/mixed",
        _mp("B", "Content-Type: text/plain\r\n", d)),
    "not-multipart": lambda d: ("application/octet-stream", d),
}


@pytest.mark.parametrize("shape", sorted(REFUSED_MULTIPART))
def test_malformed_peer_multipart_is_502_and_not_kept(hs2, peer, shape):
    data = unique(b"broken " + shape.encode() + b" " + os.urandom(64))
    ct, body = REFUSED_MULTIPART[shape](data)
    mid = "bad-" + shape
    peer.media[mid] = Media(respond=(200, [("Content-Type", ct)], body))
    before = hs2.store_files()
    r = hs2.get(dl(hs2, mid, peer.server_name))
    assert r.status_code == 502, (r.status_code, r.content[:200])
    assert hs2.store_files() == before
    (req,) = peer.downloads(mid)
    assert req["verified"] is True, req["why"]    # refused for the body


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_top_level_redirect_is_not_followed(lim, peer, cdn, status):
    """Redirection happens only inside the media part (spec 3.1): a
    top-level one is not followed, even to an allowed address."""
    target = cdn("127.0.0.3", {})
    target.routes["/m"] = (200, {"Content-Type": "text/plain"}, b"moved")
    mid = "redir%d" % status
    peer.media[mid] = Media(respond=(status, [("Location", target.url("/m"))],
                                     b""))
    r = lim.get(dl(lim, mid, peer.server_name))
    assert r.status_code != 200 and r.status_code >= 400, r.text
    assert target.requests == []
    assert [q["verified"] for q in peer.downloads(mid)] == [True]


# --- 2. the independent peer -------------------------------------------------

def test_outbound_fetch_is_signed_for_the_peer(hs2, peer):
    data = unique(BODY)
    peer.media["pm1"] = Media(data, "image/x-peer", "peer file.bin")
    r = hs2.get(dl(hs2, "pm1", peer.server_name))
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["Content-Type"] == "image/x-peer"
    assert (disposition_filename(r.headers["Content-Disposition"]) ==
            "peer file.bin")
    (req,) = peer.downloads("pm1")
    assert req["path"] == "/_matrix/federation/v1/media/download/pm1"
    assert req["verified"] is True, req["why"]
    assert req["origin"] == hs2.server_name
    assert req["headers"]["Host"] == peer.server_name
    x = parse_xmatrix(req["headers"]["Authorization"])
    assert x["destination"] == peer.server_name
    assert re.fullmatch(r"ed25519:[A-Za-z0-9_]+", x["key"]), x


def test_remote_html_is_served_as_attachment(hs2, peer):
    """Remote media gets the same inline-safety rules as local (spec 2.7):
    the peer says text/html and inline, hs2 still serves an attachment."""
    peer.media["html"] = Media(b"<script>alert(1)</script>", "text/html",
                               "page.html")
    r = hs2.get(dl(hs2, "html", peer.server_name))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/html"
    assert r.headers["Content-Disposition"].startswith("attachment"), \
        r.headers["Content-Disposition"]
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("api,ctype", [
    ("msc1902", "text/plain\x01"),
    ("msc1902", "text/plain\rX-Injected: 1"),
    ("msc1902", "image/png\x1b[31m"),
    ("v1", "text/pl\xe9in"),
    ("v1", "text/plain;\tcharset=a"),
])
def test_remote_content_type_with_control_bytes_is_octet_stream(
        hs2, peer, api, ctype):
    """A remote type gets the checks an upload's does; one that fails them
    is stored as application/octet-stream, not echoed (nor, with a CR,
    dropped from the response)."""
    data = unique(b"odd remote type")
    mid = "ct-%s-%d" % (api, sum(ctype.encode("latin-1")))
    peer.media[mid] = Media(data, ctype, "odd.bin", apis=(api,))
    for _ in range(2):      # the fetch, then the cached copy
        r = hs2.get(dl(hs2, mid, peer.server_name))
        assert r.status_code == 200, r.text
        assert r.content == data
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert "X-Injected" not in r.headers
        assert r.headers["Content-Disposition"].startswith("attachment")
    assert len(peer.downloads(mid)) == (2 if api == "msc1902" else 1)


def test_remote_content_type_list_is_attachment(hs2, peer):
    peer.media["ct-list"] = Media(unique(b"<b>x</b>"), "text/plain ,text/html",
                                  apis=("msc1902",))
    r = hs2.get(dl(hs2, "ct-list", peer.server_name))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/plain ,text/html"
    assert r.headers["Content-Disposition"].startswith("attachment")


def test_outbound_fetch_from_peer_via_msc1902(hs2, peer):
    data = unique(b"msc1902 only")
    peer.media["pm1902"] = Media(data, "text/plain", None, apis=("msc1902",))
    r = hs2.get(dl(hs2, "pm1902", peer.server_name))
    assert r.status_code == 200, r.text
    assert r.content == data
    seen = peer.downloads("pm1902")
    assert len(seen) == 2 and all(q["verified"] for q in seen), seen


@pytest.fixture
def fed_media(hs1):
    """A media id of hs1 and its federation v1 path."""
    mid = hs1.upload(unique(b"for signed requests"), "text/plain")
    return mid, FED_V1 + "/download/" + mid


def test_peer_signed_request_is_accepted(hs1, peer, fed_media):
    mid, path = fed_media
    r = peer.request(hs1.server_name, path)
    headers, content = media_part(r)
    assert content.startswith(b"for signed requests")


HEADER_VARIANTS = {
    # Spec 4.2: names are case-insensitive, order does not matter, blanks
    # around commas and several spaces after the scheme are allowed,
    # unknown parameters are ignored, destination may be left out,
    # a quoted value is unescaped, and ':' is accepted unquoted.
    "reordered": 'X-Matrix sig="{sig}",key="{key}",destination="{dest}",'
                 'origin="{origin}"',
    "upper-case-names": 'X-Matrix ORIGIN="{origin}",Destination="{dest}",'
                        'Key="{key}",SIG="{sig}"',
    "blanks-around-commas": 'X-Matrix  origin="{origin}" , destination='
                            '"{dest}",\tkey="{key}" ,sig="{sig}"',
    "unknown-param": 'X-Matrix origin="{origin}",flavour="vanilla",'
                     'destination="{dest}",key="{key}",sig="{sig}"',
    "no-destination": 'X-Matrix origin="{origin}",key="{key}",sig="{sig}"',
    "backslash-escapes": 'X-Matrix origin="{origin_escaped}",'
                         'destination="{dest}",key="{key}",sig="{sig}"',
    "unquoted-with-colons": 'X-Matrix origin={origin},destination={dest},'
                            'key={key},sig="{sig}"',
}


@pytest.mark.parametrize("variant", sorted(HEADER_VARIANTS))
def test_xmatrix_header_variants_are_accepted(hs1, peer, fed_media, variant):
    mid, path = fed_media
    x = parse_xmatrix(peer.sign(hs1.server_name, "GET", path))
    value = HEADER_VARIANTS[variant].format(
        origin=x["origin"], dest=x["destination"], key=x["key"], sig=x["sig"],
        origin_escaped=x["origin"].replace(".", "\\."))
    r = peer.request(hs1.server_name, path, authorization=value)
    assert r.status_code == 200, (value, r.content[:200])


def test_signature_covers_the_raw_request_target(hs1, peer):
    """The receiver rebuilds the uri from the bytes it got (spec 4.1):
    percent-escapes and parameter order as sent."""
    mid = hs1.upload(png(64, 64, seed=5), "image/png")
    q = "?height=3%32&method=cr%6Fp&width=32"
    r = peer.request(hs1.server_name, FED_V1 + "/thumbnail/" + mid + q)
    headers, content = media_part(r)
    assert image_size(content) == (32, 32)
    # Signed over the decoded form instead: not the request that was sent.
    decoded = FED_V1 + "/thumbnail/" + mid + "?height=32&method=crop&width=32"
    r = peer.request(hs1.server_name, FED_V1 + "/thumbnail/" + mid + q,
                     authorization=peer.sign(hs1.server_name, "GET", decoded))
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")


def test_forged_signature_is_401(hs1, peer, fed_media):
    mid, path = fed_media
    # A genuine signature, but of another request.
    other = peer.sign(hs1.server_name, "GET", FED_V1 + "/download/other")
    r = peer.request(hs1.server_name, path, authorization=other)
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    # The right request with one signature bit flipped.
    x = parse_xmatrix(peer.sign(hs1.server_name, "GET", path))
    sig = x["sig"]
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    r = peer.request(hs1.server_name, path, authorization=xmatrix_header(
        x["origin"], x["destination"], x["key"], flipped))
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    # And a POST signature is no GET signature.
    post = peer.sign(hs1.server_name, "POST", path)
    r = peer.request(hs1.server_name, path, authorization=post)
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")


def test_unpublished_key_is_401(hs1, peer, fed_media):
    mid, path = fed_media
    # Our real key, announced under an id we do not publish.
    x = parse_xmatrix(peer.sign(hs1.server_name, "GET", path))
    r = peer.request(hs1.server_name, path, authorization=xmatrix_header(
        x["origin"], x["destination"], "ed25519:notours", x["sig"]))
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    # The published id, but another key behind it.
    impostor = signedjson.key.generate_signing_key("peer1")
    r = peer.request(hs1.server_name, path, authorization=peer.sign(
        hs1.server_name, "GET", path, key=impostor))
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    # Control: the real key still works.
    assert peer.request(hs1.server_name, path).status_code == 200


def test_wrong_destination_is_401(hs1, hs2, peer, fed_media):
    mid, path = fed_media
    r = peer.request(hs1.server_name, path,
                     authorization=peer.sign(hs2.server_name, "GET", path))
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")


def test_request_replayed_to_another_server_is_401(hs1, hs2, peer):
    """A request signed for hs1, sent to hs2 for hs2's own media: refused
    by the destination parameter, and without it by the signature."""
    mid = hs2.upload(unique(b"replay target"), "text/plain")
    path = FED_V1 + "/download/" + mid
    for_hs1 = peer.sign(hs1.server_name, "GET", path)
    r = peer.request(hs2.server_name, path, authorization=for_hs1)
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    x = parse_xmatrix(for_hs1)
    no_dest = 'X-Matrix origin="%s",key="%s",sig="%s"' % (
        x["origin"], x["key"], x["sig"])
    r = peer.request(hs2.server_name, path, authorization=no_dest)
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    # Control: signed for hs2, it is served.
    assert peer.request(hs2.server_name, path).status_code == 200


def test_expired_key_is_401(world, hs1, fed_media):
    """A server never seen before whose only key response has
    valid_until_ts in the past."""
    exp = world.peers["expired"]
    mid, path = fed_media
    assert not exp.seen()
    r = exp.request(hs1.server_name, path)
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    # hs1 did fetch the keys (so the refusal is about them).
    assert exp.seen(lambda q: q["path"] == "/_matrix/key/v2/server")


def test_missing_authorization_is_401(hs1, peer, fed_media):
    mid, path = fed_media
    r = peer.request(hs1.server_name, path, authorization=False)
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    r = hs1.get("/_matrix/federation/v1/remote_media/download/%s/%s"
                % (hs1.server_name, mid))
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")


@pytest.mark.parametrize("value", [
    "X-Matrix",
    "X-Matrix ",
    "X-Matrix garbage",
    'X-Matrix origin="peer.test:1,key="ed25519:peer1",sig="AAAA"',
    'X-Matrix origin=,key=,sig=',
    'X-Matrix key="ed25519:peer1",sig="AAAA"',
    "Bearer syt_not_a_server",
    "X-Matrix origin=\"%s\"" % ("a" * 3000),
])
def test_malformed_authorization_is_400_or_401(hs1, peer, fed_media, value):
    mid, path = fed_media
    r = peer.request(hs1.server_name, path, authorization=value)
    assert r.status_code in (400, 401), (r.status_code, r.content[:200])
    assert r.headers["Content-Type"].startswith("application/json")
    assert json.loads(r.content)["errcode"]


def test_blocked_origin_is_403(hs1, lim, peer):
    mid = lim.upload(unique(b"not for the blocked"), "text/plain")
    path = FED_V1 + "/download/" + mid
    r = peer.request(lim.server_name, path)
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    # The same peer is welcome elsewhere.
    mid1 = hs1.upload(unique(b"for the peer"), "text/plain")
    assert peer.request(hs1.server_name,
                        FED_V1 + "/download/" + mid1).status_code == 200


@pytest.mark.parametrize("who", ["wrongname", "otherca"])
def test_peer_tls_must_verify(world, hs2, who):
    """A certificate for another name, or from an untrusted CA: no fetch."""
    p = world.peers[who]
    p.media["tls"] = Media(b"should not arrive", "text/plain")
    r = hs2.get(dl(hs2, "tls", p.server_name))
    assert r.status_code == 502, r.text
    assert not p.seen()


# --- 3. limits ---------------------------------------------------------------

def test_remote_media_over_max_size_is_502_and_not_kept(hs1, lim):
    data = unique(os.urandom(10000))
    mid = hs1.upload(data, "application/octet-stream")
    before = lim.store_files()
    r = lim.get(dl(lim, mid, hs1.server_name))
    assert_matrix_error(r, 502, "M_TOO_LARGE")
    assert lim.store_files() == before
    r = lim.get(dl(lim, mid, hs1.server_name))
    assert r.status_code == 502
    assert lim.store_files() == before
    # Small media from the same origin is fine.
    small = hs1.upload(unique(b"small"), "text/plain")
    assert lim.get(dl(lim, small, hs1.server_name)).status_code == 200


def test_prevent_media_downloads_from_is_404_without_contact(world, lim):
    p = world.peers["prevented"]
    p.media["x"] = Media(b"never fetched", "text/plain")
    r = lim.get(dl(lim, "x", p.server_name))
    assert_matrix_error(r, 404, "M_NOT_FOUND")
    r = lim.get("%s/thumbnail/%s/x?width=32&height=32"
                % (V1, p.server_name), token=lim.token)
    assert_matrix_error(r, 404, "M_NOT_FOUND")
    time.sleep(0.2)
    assert not p.seen()


def test_peer_that_never_answers_times_out(world, lim):
    slow = world.slow
    t0 = time.monotonic()
    r = lim.get(dl(lim, "hang", world.names["slow"]), timeout=30)
    elapsed = time.monotonic() - t0
    assert r.status_code in (502, 504), r.text
    assert elapsed < 10, elapsed
    assert slow.connections >= 1


def test_location_to_blacklisted_loopback_is_refused(lim, hs2, peer, cdn):
    target = cdn("127.0.0.9", {})
    target.routes["/blob"] = (200, {"Content-Type": "text/plain"}, b"secret")
    peer.media["loc9"] = Media(location=target.url("/blob"))
    for s in (lim, hs2):
        r = s.get(dl(s, "loc9", peer.server_name))
        assert r.status_code == 502, r.text
    assert target.requests == []
    assert len(peer.downloads("loc9")) == 2
    assert all(q["verified"] for q in peer.downloads("loc9"))


def test_location_to_whitelisted_address_is_fetched(lim, peer, cdn):
    data = unique(BODY)
    target = cdn("127.0.0.3", {})
    target.routes["/media/abc"] = (200, {
        "Content-Type": "image/x-from-cdn",
        "Content-Disposition": 'attachment; filename="cdn.bin"'}, data)
    peer.media["loc3"] = Media(location=target.url("/media/abc"))
    r = lim.get(dl(lim, "loc3", peer.server_name))
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["Content-Type"] == "image/x-from-cdn"
    assert disposition_filename(r.headers["Content-Disposition"]) == "cdn.bin"
    assert target.requests == ["/media/abc"]


def test_location_over_max_size_is_502(lim, peer, cdn):
    target = cdn("127.0.0.3", {})
    target.routes["/big"] = (200, {"Content-Type": "application/x-big"},
                             os.urandom(10000))
    peer.media["locbig"] = Media(location=target.url("/big"))
    before = lim.store_files()
    r = lim.get(dl(lim, "locbig", peer.server_name))
    assert_matrix_error(r, 502, "M_TOO_LARGE")
    assert lim.store_files() == before
    assert target.requests == ["/big"]


def test_location_answering_404_is_502(lim, peer, cdn):
    target = cdn("127.0.0.3", {})
    peer.media["locgone"] = Media(location=target.url("/gone"))
    r = lim.get(dl(lim, "locgone", peer.server_name))
    assert r.status_code == 502, r.text
    assert target.requests == ["/gone"]


def test_location_redirect_hops_are_checked_too(lim, peer, cdn):
    hidden = cdn("127.0.0.9", {})
    hidden.routes["/x"] = (200, {"Content-Type": "text/plain"}, b"secret")
    hop = cdn("127.0.0.3", {})
    hop.routes["/hop"] = (302, {"Location": hidden.url("/x")}, b"")
    peer.media["lochop"] = Media(location=hop.url("/hop"))
    r = lim.get(dl(lim, "lochop", peer.server_name))
    assert r.status_code == 502, r.text
    assert hop.requests == ["/hop"]
    assert hidden.requests == []


def test_server_never_fetches_from_itself(hs1):
    before = hs1.fed_log()
    for prefix, token in ((V3, None), (V1, hs1.token)):
        r = hs1.get(dl(hs1, "NotHereAtAll", prefix=prefix), token=token)
        assert_matrix_error(r, 404, "M_NOT_FOUND")
    time.sleep(0.3)
    assert hs1.fed_log() == before


# --- 4. concurrency ----------------------------------------------------------

def test_parallel_requests_make_one_fetch(hs2, peer):
    data = unique(BODY)
    peer.media["busy"] = Media(data, "application/x-busy", "busy.bin",
                               delay=1.0)
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        rs = list(pool.map(
            lambda _: hs2.get(dl(hs2, "busy", peer.server_name), timeout=30),
            range(5)))
    assert [r.status_code for r in rs] == [200] * 5, [r.text for r in rs]
    assert all(r.content == data for r in rs)
    assert len(peer.downloads("busy")) == 1, peer.downloads("busy")
