"""Nobody can stall an endpoint (README, "Abuse and limits").

Each attack runs against a stack with the default process counts, and
while it is on, ordinary requests must still be answered within the
client timeouts the checks give (2 s for downloads, 3 s for thumbnails and
uploads, 5 s for media from a healthy remote): a request that is queued
behind the attack fails by timing out. The limits (rate limits, quotas,
leaky buckets) are checked for their exact answers.
"""
import concurrent.futures
import io
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest
import requests
from PIL import Image

from conftest import Stack, alive, free_port
from fedpeer import CertAuthority, FedPeer, Media, SilentServer

V3 = "/_matrix/media/v3"
V1_CREATE = "/_matrix/media/v1/create"


def png_bytes(size=64):
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 60)).save(buf, "PNG")
    return buf.getvalue()


def get(stack, path, timeout, headers=None):
    return requests.get(stack.url(path), timeout=timeout, headers=headers,
                        verify=stack.verify)


def upload(stack, data, timeout=10, token=None, headers=None):
    h = dict(stack.auth(token or stack.token),
             **{"Content-Type": "application/octet-stream"})
    h.update(headers or {})
    return requests.post(stack.url(V3 + "/upload"), data=data, headers=h,
                         timeout=timeout, verify=stack.verify)


def create(stack, token):
    return requests.post(stack.url(V1_CREATE), headers=stack.auth(token),
                         timeout=10, verify=stack.verify)


def mxc_id(r):
    assert r.status_code == 200, r.text
    return r.json()["content_uri"].rsplit("/", 1)[1]


def assert_matrix_error(r, status, errcode):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["errcode"] == errcode, r.text


class World:
    """A TLS stack with default settings that federates with a healthy
    peer and with a dead one (accepts, never answers)."""

    def __init__(self, tmp):
        self.ca = CertAuthority(tmp.mktemp("ca"))
        # Apache's programs run as www-data and read the CA file.
        os.chmod(self.ca.dir, 0o755)
        os.chmod(self.ca.pem, 0o644)
        self.port = free_port()
        self.name = "abuse.test:%d" % self.port
        self.peer = FedPeer(self.ca, free_port(), host="healthy.test")
        self.dead = SilentServer("127.0.0.1", free_port())
        self.dead_name = "dead.test:%d" % self.dead.sock.getsockname()[1]
        self.peer.resolve = {self.name: ("127.0.0.1", self.port)}
        resolve = "%s=127.0.0.1:%d, %s=127.0.0.1:%d" % (
            self.peer.server_name, self.peer.port, self.dead_name,
            self.dead.sock.getsockname()[1])
        self.stack = None
        try:
            self.stack = Stack(
                tmp.mktemp("abuse"), procs=None, port=self.port,
                server_name=self.name,
                tls=self.ca.issue("abuse", dns=["abuse.test"]),
                extra_config=[
                    "federation_ca_file = " + self.ca.pem,
                    "federation_resolve = " + resolve,
                    # Short, so the hanging fetches end within the test.
                    "federation_timeout = 4s",
                    "federation_connect_timeout = 2s",
                    "remote_media_download_burst_count = 3K",
                    "remote_media_download_per_second = 1",
                    "trusted_proxies = 127.0.0.1/32, ::1/128",
                ])
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.stack:
            self.stack.stop()
        self.peer.stop()
        self.dead.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(tmp_path_factory)
    yield w
    w.stop()


def in_background(n, fn):
    """Runs fn(i) for i < n in threads; returns the futures."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=n)
    futures = [pool.submit(fn, i) for i in range(n)]
    pool.shutdown(wait=False)
    return futures


def test_long_polls_leave_room_for_everything_else(world):
    s = world.stack
    image = mxc_id(upload(s, png_bytes()))
    pending = mxc_id(create(s, s.token))
    path = "%s/download/%s/%s?timeout_ms=20000" % (V3, s.server_name,
                                                  pending)
    polls = in_background(24, lambda i: get(s, path, timeout=40))
    time.sleep(1.5)
    # The ordinary requests, each within its budget (else ReadTimeout).
    r = get(s, "%s/download/%s/%s" % (V3, s.server_name, image), 2)
    assert r.status_code == 200
    r = get(s, "%s/thumbnail/%s/%s?width=32&height=32" % (
        V3, s.server_name, image), 3)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(
        "image/")
    assert upload(s, b"ordinary", timeout=3).status_code == 200
    # Now the pending media arrives: the waiters get it.
    r = requests.put(s.url("%s/upload/%s/%s" % (V3, s.server_name, pending)),
                     data=b"arrived", headers=s.auth(s.token), timeout=10,
                     verify=s.verify)
    assert r.status_code == 200, r.text
    answers = [f.result() for f in polls]
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {200, 504, 429}, statuses
    # 24 is more than the waiting slots of 16 processes (12): some were
    # refused at once, the others waited and got the bytes.
    assert statuses.count(200) >= 1 and statuses.count(504) >= 1, statuses
    for a in answers:
        if a.status_code == 200:
            assert a.content == b"arrived"
        else:
            assert a.json()["errcode"] in ("M_NOT_YET_UPLOADED",
                                           "M_LIMIT_EXCEEDED")


def raw_connection(stack):
    """A socket to the stack (TLS when it serves HTTPS), to send by hand."""
    sock = socket.create_connection(("127.0.0.1", stack.port), timeout=10)
    if stack.base.startswith("https"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock)
    return sock


def stalled_upload(stack, token, length=1000):
    """A connection that sent upload headers and 3 bytes of its body."""
    sock = raw_connection(stack)
    sock.sendall(("POST %s/upload HTTP/1.1\r\nHost: x\r\n"
                  "Authorization: Bearer %s\r\nContent-Length: %d\r\n"
                  "Content-Type: text/plain\r\n\r\nabc" %
                  (V3, token, length)).encode())
    return sock


def test_stalled_uploads_cost_no_program(world):
    s = world.stack
    image = mxc_id(upload(s, b"before the attack"))
    socks = []
    try:
        for _ in range(64):
            socks.append(stalled_upload(s, s.token))
        time.sleep(1)
        assert upload(s, b"during the attack", timeout=3).status_code == 200
        r = get(s, "%s/download/%s/%s" % (V3, s.server_name, image), 2)
        assert r.status_code == 200 and r.content == b"before the attack"
    finally:
        for sock in socks:
            sock.close()


def test_hanging_remote_is_contained(world):
    s = world.stack
    world.peer.media["healthy1"] = Media(b"from a healthy server",
                                         "text/plain")
    local = mxc_id(upload(s, b"local bytes"))
    xff = {"X-Forwarded-For": "192.0.2.10"}

    def hang(i):
        t0 = time.monotonic()
        r = get(s, "%s/download/%s/hang%d" % (V3, world.dead_name, i), 60,
                headers=xff)
        return r, time.monotonic() - t0

    hanging = in_background(16, hang)
    time.sleep(1)
    r = get(s, "%s/download/%s/%s" % (V3, s.server_name, local), 2)
    assert r.status_code == 200 and r.content == b"local bytes"
    r = get(s, "%s/download/%s/healthy1" % (V3, world.peer.server_name), 5,
            headers={"X-Forwarded-For": "192.0.2.11"})
    assert r.status_code == 200, r.text
    assert r.content == b"from a healthy server"
    results = [f.result() for f in hanging]
    for r, _ in results:
        assert r.status_code in (429, 502, 504), r.text
        assert r.json()["errcode"] in ("M_LIMIT_EXCEEDED", "M_UNKNOWN")
    # Only the per-origin cap (4) of fetches ever reached the dead server.
    assert 1 <= world.dead.connections <= 4, world.dead.connections
    # The breaker is open now: the next fetch fails at once, unsent.
    before = world.dead.connections
    t0 = time.monotonic()
    r = get(s, "%s/download/%s/after" % (V3, world.dead_name), 10,
            headers=xff)
    assert r.status_code == 502 and "did not answer" in r.json()["error"]
    assert time.monotonic() - t0 < 2
    assert world.dead.connections == before


def test_remote_bytes_are_rationed_per_requester(world):
    s = world.stack
    for i in range(3):
        world.peer.media["big%d" % i] = Media(bytes([i]) * 2048, "text/plain")

    def fetch(i, client):
        return get(s, "%s/download/%s/big%d" % (V3, world.peer.server_name, i),
                   10, headers={"X-Forwarded-For": client})

    # Burst 3K: the first two fetches fit (the second starts at 2K), the
    # third finds the bucket over its burst.
    assert fetch(0, "198.51.100.1").status_code == 200
    assert fetch(1, "198.51.100.1").status_code == 200
    r = fetch(2, "198.51.100.1")
    assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
    assert r.json()["retry_after_ms"] > 0 and int(r.headers["Retry-After"]) > 0
    # Cached media costs nothing; another requester has its own bucket.
    assert fetch(0, "198.51.100.1").status_code == 200
    r = fetch(2, "198.51.100.2")
    assert r.status_code == 200 and r.content == bytes([2]) * 2048
    # An authenticated requester is counted by user, not address.
    world.peer.media["big3"] = Media(b"x" * 2048, "text/plain")
    r = requests.get(s.url("/_matrix/client/v1/media/download/%s/big3" %
                           world.peer.server_name),
                     headers=dict(s.auth(s.new_token()),
                                  **{"X-Forwarded-For": "198.51.100.1"}),
                     timeout=10, verify=s.verify)
    assert r.status_code == 200


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("limited"), extra_config=[
        "rc_media_create_burst_count = 3",
        "rc_media_create_per_second = 0.1",
        "media_upload_limits = 1h:1000, 1w:5000",
    ])
    yield s
    s.stop()


def test_create_rate_limit_per_user(limited):
    s = limited
    alice, bob = s.new_token(), s.new_token()
    for _ in range(3):
        assert create(s, alice).status_code == 200
    r = create(s, alice)
    assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
    # 0.1 a second: the fourth fits about 10 s after the burst.
    assert 5000 < r.json()["retry_after_ms"] <= 10001
    assert 5 <= int(r.headers["Retry-After"]) <= 11
    assert create(s, bob).status_code == 200


def store_files(stack):
    root = stack.admin("config-get", "media_store_path").stdout.strip()
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(root)
                  for f in fs)


def test_upload_quota_refuses_and_keeps_nothing(limited):
    s = limited
    carol = s.new_token()
    assert upload(s, b"a" * 600, token=carol).status_code == 200
    before = store_files(s)
    # Known length: refused before the body is read.
    r = upload(s, b"b" * 600, token=carol)
    assert_matrix_error(r, 400, "M_RESOURCE_LIMIT_EXCEEDED")
    # Chunked: no length to decide on, refused once the size is known.
    r = upload(s, iter([b"c" * 300, b"d" * 300]), token=carol)
    assert_matrix_error(r, 400, "M_RESOURCE_LIMIT_EXCEEDED")
    assert store_files(s) == before
    # What still fits goes through; other users are not affected.
    assert upload(s, b"e" * 400, token=carol).status_code == 200
    assert upload(s, b"f" * 900, token=s.new_token()).status_code == 200


def test_killed_upload_processes_are_replaced(make_stack):
    s = make_stack(procs=None)
    victims = s.child_pids("upload")
    assert victims
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while True:
        try:
            r = upload(s, b"after the massacre", timeout=2)
            if r.status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "uploads did not come back"
        time.sleep(0.2)
    assert not set(victims) & set(s.child_pids("upload"))


def test_stop_while_requests_wait_leaves_no_process(make_stack):
    s = make_stack(procs=None)
    pending = mxc_id(create(s, s.token))
    path = "%s/download/%s/%s?timeout_ms=60000" % (V3, s.server_name,
                                                  pending)

    def poll(i):
        try:
            return get(s, path, timeout=30).status_code
        except requests.RequestException:
            return None

    polls = in_background(6, poll)
    time.sleep(1)
    pids = s.child_pids()
    assert pids
    t0 = time.monotonic()
    s.stop()
    while any(alive(p) for p in pids) and time.monotonic() - t0 < 5:
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)]
    for f in polls:
        f.result()


def raw_get(stack, path):
    """A GET on a raw socket, unanswered yet."""
    sock = raw_connection(stack)
    sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    return sock


def test_abandoned_waits_free_their_slots(world):
    s = world.stack
    pending = mxc_id(create(s, s.token))
    path = "%s/download/%s/%s?timeout_ms=30000" % (V3, s.server_name,
                                                  pending)
    socks = [raw_get(s, path) for _ in range(16)]
    time.sleep(1)
    # The clients give up: a reset, which every web server notices at
    # once (lighttpd takes a plain close for a half-close, see README).
    for sock in socks:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        sock.close()
    time.sleep(1.5)
    # Had the abandoned waits kept their slots, this one would be
    # refused at once; it waits its 2 s instead.
    t0 = time.monotonic()
    r = get(s, path.replace("30000", "2000"), timeout=10)
    assert_matrix_error(r, 504, "M_NOT_YET_UPLOADED")
    assert time.monotonic() - t0 >= 1.5


def test_request_that_stops_sending_is_cut_off(make_stack):
    """Every request has a deadline, also where no web server collects the
    body: upload.fcgi run as plain CGI, with a body that never comes."""
    s = make_stack(["request_deadline = 2s"])
    env = dict(s.env, REQUEST_METHOD="POST",
               REQUEST_URI="/_matrix/media/v3/upload",
               CONTENT_LENGTH="1000", CONTENT_TYPE="text/plain",
               HTTP_AUTHORIZATION="Bearer " + s.token)
    r, w = os.pipe()
    prog = os.path.join(os.path.dirname(__file__), "..", "..", "cgi-bin",
                        "upload.fcgi")
    t0 = time.monotonic()
    p = subprocess.Popen([prog], env=env, stdin=r, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    os.close(r)
    try:
        os.write(w, b"abc")     # 3 bytes of 1000, then nothing
        out, err = p.communicate(timeout=20)
    finally:
        os.close(w)
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0
    assert b"request deadline of 2 s passed" in err
    assert 1.5 < time.monotonic() - t0 < 15


# Concurrent uploads of one user against media_upload_limits: 8 upload
# processes, so that all of a burst is checked at the same moment.
RACE_LIMIT, RACE_SIZE, RACE_UPLOADS = 10000, 3000, 8


@pytest.fixture(scope="module")
def quota_race(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("quota_race"), procs=None,
              extra_config=[
                  "media_upload_limits = 1h:%d" % RACE_LIMIT,
                  "max_pending_media_uploads = 50",
                  "processes = upload:%d" % RACE_UPLOADS,
              ])
    yield s
    s.stop()


def stored_bytes(stack, user):
    out = stack.admin("media", "list", "--user", user).stdout
    return sum(int(line.split("\t")[1]) for line in out.splitlines() if line)


def burst(send, n):
    """n calls of send(i) released together; their responses."""
    start = threading.Barrier(n)

    def one(i):
        start.wait()
        return send(i)

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.parametrize("how", ["post", "put"])
def test_upload_quota_holds_for_concurrent_uploads(quota_race, how):
    """Uploads of one user at the same instant are charged one after the
    other: exactly those that fit are stored, the others are refused."""
    s = quota_race
    fits = RACE_LIMIT // RACE_SIZE
    for round_ in range(5):
        user = "@race%s%d_%d:%s" % (how, round_, time.monotonic_ns(),
                                    s.server_name)
        token = s.new_token(user)
        if how == "put":
            ids = [mxc_id(create(s, token)) for _ in range(RACE_UPLOADS)]

        def send(i):
            data = bytes([65 + i]) * RACE_SIZE
            if how == "post":
                return upload(s, data, timeout=30, token=token)
            return requests.put(
                s.url(V3 + "/upload/%s/%s" % (s.server_name, ids[i])),
                data=data, timeout=30, verify=s.verify,
                headers=dict(s.auth(token), **{
                    "Content-Type": "application/octet-stream"}))

        answers = burst(send, RACE_UPLOADS)
        ok = [r for r in answers if r.status_code == 200]
        for r in answers:
            if r.status_code != 200:
                assert_matrix_error(r, 400, "M_RESOURCE_LIMIT_EXCEEDED")
        assert stored_bytes(s, user) == len(ok) * RACE_SIZE <= RACE_LIMIT
        assert len(ok) == fits, [r.status_code for r in answers]
