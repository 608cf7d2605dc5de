"""POST .../upload end to end: prefixes, types, file names, dedupe, limits,
auth, aborted uploads and the temp-file sweep, through the real lighttpd."""
import hashlib
import json
import os
import re
import socket
import time
import urllib.parse

import pytest
import requests

MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{24,}$")

UPLOAD_PREFIXES = [
    "/_matrix/media/r0",
    "/_matrix/media/v1",
    "/_matrix/media/v3",
    "/_matrix/client/r0/media",
    "/_matrix/client/unstable/org.matrix.msc1902/media",
]


# --- helpers ---

def post_upload(stack, data, headers=None, token=None, query="",
                prefix="/_matrix/media/v3", use_token=True):
    h = {}
    if use_token:
        h.update(stack.auth(token or stack.token))
    h.update(headers or {})
    return requests.post(stack.url(prefix + "/upload" + query), data=data,
                         headers=h, timeout=30)


def media_id_of(stack, r):
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["content_uri"], body
    m = re.match(r"^mxc://([^/]+)/(.+)$", body["content_uri"])
    assert m, body
    assert m.group(1) == stack.server_name
    assert MEDIA_ID.match(m.group(2)), m.group(2)
    return m.group(2)


def download(stack, media_id, **kw):
    return requests.get(stack.url("/_matrix/media/v3/download/%s/%s" % (
        stack.server_name, media_id)), timeout=30, **kw)


def assert_matrix_error(r, status, errcode):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json")
    body = r.json()
    assert body.get("errcode") == errcode, body
    assert isinstance(body.get("error"), str)
    return body


def parse_disposition(value):
    """(kind, {param: decoded value}) of a Content-Disposition header,
    with quoted-string and RFC 8187 ext-value (filename*) decoding."""
    kind, _, rest = value.partition(";")
    params = {}
    pos = 0
    token = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
    param = re.compile(r"\s*(" + token + r")\s*=\s*(\"(?:[^\"\\]|\\.)*\"|"
                       + r"[^;\s]*)\s*(?:;|$)")
    while pos < len(rest):
        m = param.match(rest, pos)
        assert m, "malformed Content-Disposition: %r" % value
        name, raw = m.group(1).lower(), m.group(2)
        if raw.startswith('"'):
            val = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif name.endswith("*"):
            charset, _lang, enc = raw.split("'", 2)
            assert charset.lower() == "utf-8", raw
            val = urllib.parse.unquote(enc, encoding="utf-8", errors="strict")
        else:
            val = raw
        params[name] = val
        pos = m.end()
    return kind.strip().lower(), params


def disposition_filename(value):
    kind, params = parse_disposition(value)
    assert kind in ("inline", "attachment"), value
    # filename* wins over filename when both are present (RFC 6266 4.3).
    return params.get("filename*", params.get("filename"))


def store_root(stack):
    return os.path.join(stack.data_dir, "media_store")


def blobs(stack):
    """Every stored blob (the ab/cd/ tree), not the tmp/ directory."""
    root = store_root(stack)
    out = set()
    for d, dirs, files in os.walk(root):
        if d == root:
            dirs[:] = [x for x in dirs if x != "tmp"]
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def tmp_files(stack):
    return sorted(os.listdir(os.path.join(store_root(stack), "tmp")))


def blob_rel(data):
    h = hashlib.sha256(data).hexdigest()
    return os.path.join(h[:2], h[2:4], h)


def raw_http(stack, head, timeout=5.0):
    """Sends only head on a raw socket and reads the answer until the
    server closes or Content-Length is complete: (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", stack.port), timeout=timeout)
    try:
        s.sendall(head)
        return read_response(s, timeout)
    finally:
        s.close()


def read_response(s, timeout):
    s.settimeout(timeout)
    buf = b""
    deadline = time.time() + timeout
    while b"\r\n\r\n" not in buf:
        if time.time() > deadline:
            raise AssertionError("no response headers: %r" % buf)
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before headers: %r" % buf)
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    want = int(headers.get("content-length", "-1"))
    while want < 0 or len(body) < want:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        body += chunk
    return status, headers, body


def wait_until(pred, timeout=5.0, step=0.05):
    deadline = time.time() + timeout
    while True:
        if pred():
            return True
        if time.time() > deadline:
            return False
        time.sleep(step)


# --- prefixes ---

@pytest.mark.parametrize("prefix", UPLOAD_PREFIXES)
def test_upload_on_every_prefix_round_trips(stack, prefix):
    data = os.urandom(3000) + prefix.encode()
    r = post_upload(stack, data, {"Content-Type": "application/x-test"},
                    prefix=prefix)
    mid = media_id_of(stack, r)
    d = download(stack, mid)
    assert d.status_code == 200, d.text
    assert d.content == data
    assert d.headers["Content-Type"] == "application/x-test"


def test_client_v1_has_no_upload(stack):
    r = post_upload(stack, b"abc", prefix="/_matrix/client/v1/media")
    assert_matrix_error(r, 404, "M_UNRECOGNIZED")


def test_upload_ids_are_unique(stack):
    ids = {media_id_of(stack, post_upload(stack, b"x%d" % i))
           for i in range(5)}
    assert len(ids) == 5


# --- content type ---

@pytest.mark.parametrize("ctype", [
    "text/plain; charset=utf-8",
    "image/png",
    "application/vnd.example+json; profile=\"a b\"",
])
def test_content_type_is_kept_verbatim(stack, ctype):
    data = b"type test " + ctype.encode()
    mid = media_id_of(stack, post_upload(stack, data, {"Content-Type": ctype}))
    d = download(stack, mid)
    assert d.status_code == 200
    assert d.headers["Content-Type"] == ctype
    assert d.content == data


@pytest.mark.parametrize("ctype", [
    "text/plain ,text/html",
    "text/plain;,text/html",
    "text/plain, text/html",
    "image/png; a=b, text/html",
])
def test_content_type_list_is_served_as_attachment(stack, ctype):
    """A browser reads the last type of a list: text/html here. Such a
    value is kept as sent, but never served inline."""
    data = b"<script>alert(1)</script> " + ctype.encode()
    mid = media_id_of(stack, post_upload(stack, data, {"Content-Type": ctype},
                                         query="?filename=a.txt"))
    d = download(stack, mid)
    assert d.status_code == 200
    assert d.content == data
    assert d.headers["Content-Type"] == ctype
    kind, params = parse_disposition(d.headers["Content-Disposition"])
    assert kind == "attachment", d.headers["Content-Disposition"]
    assert params.get("filename") == "a.txt"


def test_content_type_comma_in_quoted_parameter_stays_inline(stack):
    ctype = 'text/plain; x="a, text/html"'
    mid = media_id_of(stack, post_upload(stack, b"one type", {
        "Content-Type": ctype}))
    d = download(stack, mid)
    assert d.headers["Content-Type"] == ctype
    assert parse_disposition(d.headers["Content-Disposition"])[0] == "inline"


def test_no_content_type_means_octet_stream(stack):
    r = post_upload(stack, b"no type at all")
    # requests adds no Content-Type for a bytes body: check what went out.
    assert "Content-Type" not in r.request.headers
    mid = media_id_of(stack, r)
    d = download(stack, mid)
    assert d.headers["Content-Type"] == "application/octet-stream"
    assert d.content == b"no type at all"


# --- file names ---

@pytest.mark.parametrize("name", [
    "a b.txt", "semi;colon.txt", 'quo"te.txt', "\U0001F414.png",
    "back\\slash", "plain.txt", "per%cent&amp=.bin",
])
def test_filename_round_trips(stack, name):
    data = ("file named %r" % name).encode()
    q = "?" + urllib.parse.urlencode({"filename": name})
    mid = media_id_of(stack, post_upload(
        stack, data, {"Content-Type": "text/plain"}, query=q))
    d = download(stack, mid)
    assert d.status_code == 200
    assert d.content == data
    cd = d.headers["Content-Disposition"]
    assert disposition_filename(cd) == name, cd


def test_no_filename_means_none_in_disposition(stack):
    mid = media_id_of(stack, post_upload(stack, b"nameless"))
    cd = download(stack, mid).headers["Content-Disposition"]
    kind, params = parse_disposition(cd)
    assert kind in ("inline", "attachment")
    assert "filename" not in params and "filename*" not in params, cd


@pytest.mark.parametrize("raw", ["%FF%FE", "a%C3", "%ED%A0%80", "%C0%AF"])
def test_filename_not_utf8_is_400(stack, raw):
    before = blobs(stack)
    r = post_upload(stack, b"bad name " + raw.encode(),
                    query="?filename=" + raw)
    assert r.request.url.endswith("?filename=" + raw)  # sent as is
    assert r.status_code == 400, r.text
    assert r.json()["errcode"].startswith("M_")
    assert blobs(stack) == before


# --- dedupe ---

def test_same_bytes_stored_once(stack):
    data = os.urandom(50000)
    before = blobs(stack)
    a = media_id_of(stack, post_upload(stack, data))
    b = media_id_of(stack, post_upload(stack, data, {"Content-Type": "x/y"},
                                       query="?filename=other.bin"))
    assert a != b
    added = blobs(stack) - before
    assert added == {blob_rel(data)}
    with open(os.path.join(store_root(stack), blob_rel(data)), "rb") as f:
        assert f.read() == data
    # Each id keeps its own metadata over the shared bytes.
    da, db = download(stack, a), download(stack, b)
    assert da.content == db.content == data
    assert da.headers["Content-Type"] == "application/octet-stream"
    assert db.headers["Content-Type"] == "x/y"
    assert disposition_filename(da.headers["Content-Disposition"]) is None
    assert disposition_filename(db.headers["Content-Disposition"]) == \
        "other.bin"
    assert tmp_files(stack) == []


# --- size limits ---

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from conftest import Stack
    s = Stack(tmp_path_factory.mktemp("small"), ["max_upload_size = 1K"])
    yield s
    s.stop()


def test_exactly_max_size_is_accepted(small):
    data = os.urandom(1024)
    mid = media_id_of(small, post_upload(small, data))
    assert download(small, mid).content == data


def test_one_byte_over_is_413(small):
    before = blobs(small)
    r = post_upload(small, os.urandom(1025))
    assert_matrix_error(r, 413, "M_TOO_LARGE")
    assert blobs(small) == before


def test_content_length_2000_is_413(small):
    before = blobs(small)
    try:
        r = post_upload(small, os.urandom(2000))
    except requests.ConnectionError as e:  # answered mid-send: still wrong
        pytest.fail("connection broke instead of a 413: %s" % e)
    assert_matrix_error(r, 413, "M_TOO_LARGE")
    assert blobs(small) == before


def test_oversized_content_length_answered_before_body(small):
    head = ("POST /_matrix/media/v3/upload HTTP/1.1\r\n"
            "Host: %s\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Length: 2000000\r\n\r\n" % (small.server_name,
                                                   small.token)).encode()
    status, headers, body = raw_http(small, head, timeout=5)
    assert status == 413, body
    assert headers["content-type"].startswith("application/json")
    err = json.loads(body)
    assert err["errcode"] == "M_TOO_LARGE", err
    assert "1024" in err["error"], err  # the refusal names the limit
    assert wait_until(lambda: tmp_files(small) == [])


def test_chunked_body_over_limit_is_413_and_not_stored(small):
    before = blobs(small)

    def gen():
        for _ in range(10):
            yield os.urandom(500)

    r = requests.post(small.url("/_matrix/media/v3/upload"), data=gen(),
                      headers=small.auth(small.token), timeout=30)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert_matrix_error(r, 413, "M_TOO_LARGE")
    assert blobs(small) == before
    assert wait_until(lambda: tmp_files(small) == [])


def test_large_chunked_body_over_limit_is_413_and_not_stored(make_stack):
    """Past 1 MiB the writer hashes on a second thread; the limit still
    answers 413 mid-stream, nothing is stored, and the process serves the
    next upload, which is hashed right."""
    s = make_stack(["max_upload_size = 2M"], procs=1)
    before = blobs(s)

    def gen():
        for _ in range(24):
            yield os.urandom(128 * 1024)

    r = requests.post(s.url("/_matrix/media/v3/upload"), data=gen(),
                      headers=s.auth(s.token), timeout=60)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert_matrix_error(r, 413, "M_TOO_LARGE")
    assert blobs(s) == before
    assert wait_until(lambda: tmp_files(s) == [])
    data = os.urandom((3 << 19) + 7)
    mid = media_id_of(s, post_upload(s, data))
    assert download(s, mid).content == data
    # Stored under its hash (with MR_BLOB=s3, the local copy is the
    # cache's, under s3cache/).
    assert any(b == blob_rel(data) or b == "s3cache/" + blob_rel(data)
               for b in blobs(s)), blobs(s)


def test_chunked_body_within_limit_is_stored(small):
    parts = [os.urandom(300), os.urandom(300), os.urandom(300)]

    r = requests.post(small.url("/_matrix/media/v3/upload"),
                      data=iter(parts), headers=small.auth(small.token),
                      timeout=30)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    mid = media_id_of(small, r)
    assert download(small, mid).content == b"".join(parts)


# --- auth ---

def test_upload_without_token_is_401(stack):
    r = post_upload(stack, b"x", use_token=False)
    assert_matrix_error(r, 401, "M_MISSING_TOKEN")


def test_upload_with_bad_token_is_401(stack):
    r = post_upload(stack, b"x", token="not-a-real-token")
    assert_matrix_error(r, 401, "M_UNKNOWN_TOKEN")


def test_upload_with_revoked_token_is_401(stack):
    tok = stack.new_token()
    media_id_of(stack, post_upload(stack, b"before revoke", token=tok))
    stack.admin("revoke-token", tok)
    r = post_upload(stack, b"after revoke", token=tok)
    assert_matrix_error(r, 401, "M_UNKNOWN_TOKEN")


def test_upload_with_query_access_token(stack):
    q = "?" + urllib.parse.urlencode({"access_token": stack.token,
                                      "filename": "q.txt"})
    r = post_upload(stack, b"query token", use_token=False, query=q)
    mid = media_id_of(stack, r)
    d = download(stack, mid)
    assert d.content == b"query token"
    assert disposition_filename(d.headers["Content-Disposition"]) == "q.txt"


def test_upload_with_bad_query_access_token(stack):
    r = post_upload(stack, b"x", use_token=False,
                    query="?access_token=nope")
    assert_matrix_error(r, 401, "M_UNKNOWN_TOKEN")


# --- aborted uploads and the sweep ---

def test_client_disconnect_mid_upload_leaves_nothing(stack):
    """The web server collects a body before upload.fcgi sees it (README,
    "Abuse and limits"): a client that hangs up mid-body never reaches a
    program, and leaves nothing in the store."""
    before = blobs(stack)
    uploads_logged = stack.read_log().count("mediarepo upload ")
    head = ("POST /_matrix/media/v3/upload HTTP/1.1\r\n"
            "Host: %s\r\nAuthorization: Bearer %s\r\n"
            "Content-Length: 1000000\r\n\r\n" % (stack.server_name,
                                                   stack.token)).encode()
    s = socket.create_connection(("127.0.0.1", stack.port), timeout=5)
    s.sendall(head)
    s.sendall(os.urandom(100000))
    # Were the body streamed, a writer would show up in tmp/ now.
    assert not wait_until(lambda: tmp_files(stack) != [], timeout=1.5)
    s.close()
    time.sleep(0.5)
    assert tmp_files(stack) == []
    assert blobs(stack) == before
    assert stack.read_log().count("mediarepo upload ") == uploads_logged
    # The processes still serve.
    media_id_of(stack, post_upload(stack, b"after the abort"))


def test_stale_temp_files_are_swept(stack):
    tmp = os.path.join(store_root(stack), "tmp")
    now = time.time()
    files = {
        # writer gone, idle past the minute's grace: removed
        "999999999-stale": now - 120,
        # writer alive (pid 1) but idle past temp_file_max_age (1h): removed
        "1-old": now - 7200,
        # writer gone but fresh: kept for the grace period
        "999999998-fresh": now,
        # writer alive (this test) and idle only 2 minutes: kept
        "%d-live" % os.getpid(): now - 120,
    }
    for name, mtime in files.items():
        p = os.path.join(tmp, name)
        with open(p, "wb") as f:
            f.write(b"junk")
        os.utime(p, (mtime, mtime))
    try:
        media_id_of(stack, post_upload(stack, b"triggers the sweep"))
        left = set(tmp_files(stack))
        assert "999999999-stale" not in left
        assert "1-old" not in left
        assert "999999998-fresh" in left
        assert "%d-live" % os.getpid() in left
    finally:
        for name in files:
            try:
                os.unlink(os.path.join(tmp, name))
            except FileNotFoundError:
                pass


# --- sizes ---

def test_empty_upload(stack):
    r = post_upload(stack, b"", {"Content-Type": "text/plain"})
    assert r.request.headers.get("Content-Length") == "0"
    mid = media_id_of(stack, r)
    d = download(stack, mid)
    assert d.status_code == 200
    assert d.content == b""
    assert d.headers.get("Content-Length") in ("0", None)
    assert d.headers["Content-Type"] == "text/plain"


def test_20_mib_upload(stack):
    data = os.urandom(20 * 1024 * 1024)
    mid = media_id_of(stack, post_upload(stack, data))
    d = download(stack, mid, stream=True)
    assert d.status_code == 200
    h = hashlib.sha256()
    n = 0
    for chunk in d.iter_content(1 << 20):
        h.update(chunk)
        n += len(chunk)
    assert n == len(data)
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()
    assert blob_rel(data) in blobs(stack)


def test_upload_spool_dir(make_stack, tmp_path_factory):
    """upload_spool_dir: the web server collects request bodies there
    (mediarepo-run writes it into lighttpd's, nginx's or Apache's setup),
    and an upload still arrives whole."""
    spool = str(tmp_path_factory.mktemp("spool"))
    s = make_stack(["upload_spool_dir = " + spool])

    def spooled():
        """Files in the spool, and open ones already unlinked there (nginx
        unlinks its temp files at once and keeps them open)."""
        found = [f for _, _, files in os.walk(spool) for f in files]
        for pid in os.listdir("/proc"):
            try:
                fds = os.listdir("/proc/%s/fd" % pid)
            except (OSError, ValueError):
                continue
            for fd in fds:
                try:
                    t = os.readlink("/proc/%s/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if t.startswith(spool + "/"):
                    found.append(t)
        return found

    data = os.urandom(1 << 20)
    head = ("POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: %s\r\n"
            "Authorization: Bearer %s\r\n"
            "Content-Type: application/octet-stream\r\n"
            "Content-Length: %d\r\nConnection: close\r\n\r\n" % (
                s.server_name, s.token, len(data))).encode()
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        c.sendall(head + data[:600000])
        # Half the body is in, past every server's in-memory buffer: it
        # waits in the spool directory.
        assert wait_until(lambda: spooled() != [], timeout=5)
        c.sendall(data[600000:])
        answer = b""
        while True:
            got = c.recv(65536)
            if not got:
                break
            answer += got
    finally:
        c.close()
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.split(b"\r\n")[0].split()[1] == b"200", answer[:300]
    uri = json.loads(body)["content_uri"]
    d = download(s, uri.rsplit("/", 1)[1])
    assert d.status_code == 200 and d.content == data
    # Nothing stays behind once the body has gone to upload.fcgi.
    assert wait_until(lambda: spooled() == [], timeout=5)


@pytest.mark.skipif(os.geteuid() != 0, reason="the web server changes user "
                    "only in a root start")
def test_upload_spool_dir_the_web_server_cannot_reach(tmp_path):
    """A spool under a directory the web server's user cannot search is
    refused at start, not found out by a failed large upload."""
    import signal
    import subprocess
    from conftest import ADMIN, RUN, free_port
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    data = tmp_path / "data"
    data.mkdir()
    for d in (tmp_path, data):
        os.chmod(d, 0o755)
    d = tmp_path
    while str(d) != "/":    # the data directory itself stays reachable
        os.chmod(d, os.stat(d).st_mode | 0o001)
        d = d.parent
    port = free_port()
    conf = str(data / "mediarepo.conf")
    subprocess.run([ADMIN, "init-config", conf, "localhost:%d" % port],
                   check=True, capture_output=True)
    with open(conf, "a") as f:
        f.write("upload_spool_dir = %s/spool\n" % locked)
    p = subprocess.Popen([RUN], env=dict(os.environ, DATA_DIR=str(data),
                                         PORT=str(port),
                                         MEDIAREPO_CONFIG=conf),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:    # it started after all: stop what it ran
            os.killpg(p.pid, signal.SIGTERM)
            p.wait()
    assert p.returncode == 1, (out, err)
    assert "cannot write upload_spool_dir" in err
