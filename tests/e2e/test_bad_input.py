"""Bad input: hostile path parameters, broken query strings and
percent-encoding, oversized headers and URIs, bad upload headers.

Every refusal must be a Matrix JSON error (also the ones lighttpd answers
itself, through httpd-conf/errors), no file outside the media store may be
served, and the server must keep working afterwards (DESIGN.md "Errors and
bad input", spec.md 2.2).

Requests go out over raw sockets or http.client, never `requests`, so
"../" and odd percent-encodings reach the server exactly as written.
"""
import http.client
import json
import os
import socket
import time

import pytest
import requests

from conftest import alive

CANARY = b"CANARY-6f1c0f3e-if-you-see-this-a-file-leaked"
LEGACY = "/_matrix/media/v3"
V1 = "/_matrix/client/v1/media"


@pytest.fixture(scope="module")
def env(stack):
    """Canary files around the media store, and one real upload."""
    paths = [os.path.join(stack.data_dir, "canary"),
             os.path.join(os.path.dirname(stack.data_dir), "canary")]
    for p in paths:
        with open(p, "wb") as f:
            f.write(CANARY)
    stack.start_pids = sorted(stack.child_pids())
    stack.good_id = stack.upload(b"good bytes", "text/plain",
                                 filename="good.txt")
    yield stack
    for p in paths:
        os.unlink(p)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:200])


def raw(s, data, timeout=10):
    """Sends bytes as they are; parses the one response that comes back."""
    with socket.create_connection(("127.0.0.1", s.port),
                                  timeout=timeout) as c:
        c.sendall(data)
        out = b""
        try:
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                out += chunk
        except ConnectionResetError:
            pass
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1."), out[:200]
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return Resp(int(lines[0].split()[1]), headers, body)


def get(s, path, headers=None, method="GET", body=b""):
    extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
    if body or method in ("POST", "PUT"):
        extra += "Content-Length: %d\r\n" % len(body)
    req = "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n" % (
        method, path, extra)
    return raw(s, req.encode("latin-1") + body)


def assert_matrix_error(r, statuses, errcode=None):
    if isinstance(statuses, int):
        statuses = (statuses,)
    assert r.status in statuses, r
    assert r.headers.get("content-type", "").startswith("application/json"), \
        (r, r.headers)
    body = r.json()
    assert isinstance(body.get("errcode"), str) and \
        body["errcode"].startswith("M_"), body
    assert isinstance(body.get("error"), str), body
    if errcode is not None:
        assert body["errcode"] == errcode, body
    assert CANARY not in r.body


def assert_still_serving(s):
    r = get(s, "%s/download/%s/%s" % (LEGACY, s.server_name, s.good_id))
    assert r.status == 200, r
    assert r.body == b"good bytes"


# --- server names and media ids ---

BAD_IDS = [
    "%2E%2E",
    "..%2F..%2F..%2Fcanary",
    "%2E%2E%2F%2E%2E%2Fcanary",
    "a%2Fb",
    "%2F",
    "%2Fetc%2Fpasswd",
    "%5C..%5Ccanary",
    "x" * 300,
    "%C3%A9t%C3%A9",
    "\u00e9t\u00e9",               # raw UTF-8 bytes on the wire
    "%EF%BC%8E%EF%BC%8E",          # fullwidth dots
    "%C0%AE%C0%AE",                # overlong UTF-8 "."
    "bad%20id",
    "a.b",
    "a%3Bb",
    "%7E",
]
BAD_SERVERS = [
    "%2E%2E",
    "..%2F..",
    "a%2Fb",
    "%2F",
    "y" * 300,
    "%C3%A9xample.org",
    "bad%20server",
    "example.org:99999",
    "example.org:",
    "[::1",
    "exa_mple.org",
]


def _path(prefix, server, media_id):
    return "%s/download/%s/%s" % (prefix, server, media_id)


def _send(s, path, token=None):
    headers = {"Authorization": "Bearer " + token} if token else None
    req = "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n" % (
        path, "".join("%s: %s\r\n" % kv for kv in (headers or {}).items()))
    return raw(s, req.encode("utf-8"))


@pytest.mark.parametrize("prefix", [LEGACY, V1])
@pytest.mark.parametrize("media_id", BAD_IDS)
def test_bad_media_id(env, prefix, media_id):
    r = _send(env, _path(prefix, env.server_name, media_id), env.token)
    assert_matrix_error(r, (400, 404))


@pytest.mark.parametrize("prefix", [LEGACY, V1])
@pytest.mark.parametrize("server", BAD_SERVERS)
def test_bad_server_name(env, prefix, server):
    r = _send(env, _path(prefix, server, env.good_id), env.token)
    assert_matrix_error(r, (400, 404))


@pytest.mark.parametrize("prefix", [LEGACY, V1])
def test_grammar_errors_are_400_invalid_param(env, prefix):
    for path in [_path(prefix, env.server_name, "x" * 300),
                 _path(prefix, "y" * 300, "abc"),
                 _path(prefix, env.server_name, "bad%20id"),
                 _path(prefix, env.server_name, "a%2Fb")]:
        r = _send(env, path, env.token)
        assert_matrix_error(r, 400, "M_INVALID_PARAM")


@pytest.mark.parametrize("path", [
    LEGACY + "/download/{s}//",
    LEGACY + "/download/{s}//abc",
    LEGACY + "/download//{id}",
    LEGACY + "/download/{s}/{id}//",
    V1 + "/download/{s}//",
])
def test_empty_segments(env, path):
    r = _send(env, path.format(s=env.server_name, id=env.good_id), env.token)
    assert_matrix_error(r, (400, 404))


@pytest.mark.parametrize("path", [
    LEGACY + "/download/{s}/%00",
    LEGACY + "/download/{s}/abc%00def",
    LEGACY + "/download/%00/abc",
    LEGACY + "/download/{s}/{id}/a%00.txt",
    LEGACY + "/config%00",
    LEGACY + "/download/{s}/abc%0A",
    LEGACY + "/download/{s}/abc%0D%0AX-Injected:%20yes",
    LEGACY + "/download/{s}/{id}?timeout_ms=%00",
    LEGACY + "/download/{s}/{id}?a=b%0D%0AX-Injected:%20yes",
])
def test_control_characters(env, path):
    # The programs refuse control characters themselves (lighttpd lets them
    # through), so the error carries CORS; a path that names no endpoint,
    # like config%00, is 404 M_UNRECOGNIZED instead.
    # Apache and nginx refuse %00 in a path themselves, before any program
    # (README "Web servers"): Apache with 404, nginx with 400, each with a
    # JSON body and CORS from httpd-conf/errors.
    r = _send(env, path.format(s=env.server_name, id=env.good_id), env.token)
    server_answers = {"apache": 404, "nginx": 400}.get(env.webserver)
    if "%00" in path.partition("?")[0] and server_answers:
        assert_matrix_error(r, server_answers)
    elif "/config%00" in path:
        assert_matrix_error(r, 404, "M_UNRECOGNIZED")
    else:
        assert_matrix_error(r, 400)
    assert r.headers.get("access-control-allow-origin") == "*"
    assert "x-injected" not in r.headers


def test_bad_file_name_segment(env):
    base = _path(LEGACY, env.server_name, env.good_id)
    r = _send(env, base + "/" + "n" * 5000)
    assert r.status in (200, 400), r
    if r.status == 400:
        assert_matrix_error(r, 400)
    r = _send(env, base + "/%FF%FE.txt")          # not UTF-8
    assert_matrix_error(r, 400)


@pytest.mark.parametrize("path", [
    LEGACY + "/download/{s}/../../../../canary",
    LEGACY + "/download/{s}/{id}/../../../canary",
    LEGACY + "/download/../../../../../canary",
    "/_matrix/../canary",
    "/../canary",
    "/canary",
    "/../../../../../../../../etc/passwd",
    LEGACY + "/download/{s}/..%2F..%2F..%2Fcanary",
    LEGACY + "/download/{s}/%2e%2e/%2e%2e/%2e%2e/canary",
    LEGACY + "/download/{s}/..%5C..%5Ccanary",
])
def test_traversal_never_reaches_a_file(env, path):
    path = path.format(s=env.server_name, id=env.good_id)
    conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=10)
    try:
        conn.request("GET", path)   # http.client sends the path verbatim
        resp = conn.getresponse()
        r = Resp(resp.status, {k.lower(): v for k, v in resp.getheaders()},
                 resp.read())
    finally:
        conn.close()
    assert_matrix_error(r, (400, 404))
    assert b"root:" not in r.body


def test_no_write_outside_store_and_no_new_media(env):
    """After all the hostile paths, nothing new sits around the store."""
    store = os.path.join(env.data_dir, "media_store")
    before = sorted(os.listdir(os.path.dirname(env.data_dir)))
    files_before = sum(len(f) for _, _, f in os.walk(store))
    for media_id in BAD_IDS[:6]:
        _send(env, _path(LEGACY, env.server_name, media_id))
        get(env, "%s/upload/%s/%s" % (LEGACY, env.server_name, media_id),
            headers={"Authorization": "Bearer " + env.token}, method="PUT",
            body=b"evil")
    assert sorted(os.listdir(os.path.dirname(env.data_dir))) == before
    assert sum(len(f) for _, _, f in os.walk(store)) == files_before
    with open(os.path.join(os.path.dirname(env.data_dir), "canary"),
              "rb") as f:
        assert f.read() == CANARY


# --- query strings ---

@pytest.mark.parametrize("query", [
    "timeout_ms=abc",
    "timeout_ms=-1",
    "timeout_ms=1e3",
    "timeout_ms=",
    "timeout_ms=99999999999999999999999",
    "allow_remote=maybe",
    "allow_remote=1",
    "allow_redirect=yes",
    "%zz=1",
    "a=%",
    "a=%4",
    "a=%G1",
    "&".join("p%d=%d" % (i, i) for i in range(70)),
])
def test_bad_query_is_400_invalid_param(env, query):
    r = _send(env, _path(LEGACY, env.server_name, env.good_id) + "?" + query)
    assert_matrix_error(r, 400, "M_INVALID_PARAM")


@pytest.mark.parametrize("query", [
    "&&&", "", "=", "foo", "foo=bar&&baz=", "timeout_ms=0", "allow_remote=true",
    "allow_remote=false&allow_redirect=false&timeout_ms=5",
    "&".join("p%d=%d" % (i, i) for i in range(20)),
])
def test_harmless_query_is_fine(env, query):
    r = _send(env, _path(LEGACY, env.server_name, env.good_id) + "?" + query)
    assert r.status == 200, r
    assert r.body == b"good bytes"


@pytest.mark.parametrize("query", ["%zz=1", "a=%"])
def test_broken_query_encoding_on_config(env, query):
    r = _send(env, LEGACY + "/config?" + query, env.token)
    assert_matrix_error(r, 400, "M_INVALID_PARAM")


# --- percent-encoding in the path ---

@pytest.mark.parametrize("path", [
    LEGACY + "/download/{s}/abc%zz",
    LEGACY + "/download/{s}/abc%",
    LEGACY + "/download/{s}/abc%4",
    LEGACY + "/download/%zz/abc",
    LEGACY + "/download/{s}/{id}/name%zz.txt",
    LEGACY + "/download/{s}/{id}/name%",
    V1 + "/download/{s}/abc%zz",
])
def test_bad_percent_encoding_in_path(env, path):
    r = _send(env, path.format(s=env.server_name, id=env.good_id), env.token)
    assert_matrix_error(r, 400)


# --- sizes of headers and URIs ---

def test_oversized_header(env):
    r = get(env, LEGACY + "/config",
            headers={"Authorization": "Bearer " + env.token,
                     "X-Big": "a" * 20000})
    assert_matrix_error(r, (400, 431))
    assert_still_serving(env)


def test_many_headers(env):
    r = get(env, LEGACY + "/config",
            headers={"X-H%d" % i: "v" * 100 for i in range(300)})
    assert_matrix_error(r, (400, 431))
    assert_still_serving(env)


def test_oversized_uri(env):
    path = _path(LEGACY, env.server_name, "a" * 9000)
    r = _send(env, path)
    assert_matrix_error(r, (400, 414))
    r = _send(env, _path(LEGACY, env.server_name, env.good_id) + "?x=" +
              "b" * 9000)
    assert_matrix_error(r, (400, 414))
    assert_still_serving(env)


def test_oversized_authorization_header(env):
    r = _send(env, LEGACY + "/config", "mr_" + "t" * 5000)
    assert_matrix_error(r, 401, "M_UNKNOWN_TOKEN")


# --- upload headers ---

@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "0x10", "10, 10",
                                   "99999999999999999999999999"])
def test_invalid_content_length(env, value):
    req = ("POST %s/upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           "Authorization: Bearer %s\r\nContent-Type: text/plain\r\n"
           "Content-Length: %s\r\n\r\nhello" % (LEGACY, env.token, value))
    r = raw(env, req.encode())
    assert_matrix_error(r, (400, 413))


@pytest.mark.parametrize("ctype", [
    b"text/plain\x01", b"text/\x7fplain", b"text/plain\tx",
    b"image/png\x1b[31m", b"text/pl\xc3\xa9in", b"a" * 300,
])
def test_invalid_content_type_on_upload(env, ctype):
    req = (b"POST " + LEGACY.encode() + b"/upload HTTP/1.1\r\nHost: x\r\n"
           b"Connection: close\r\nAuthorization: Bearer " +
           env.token.encode() + b"\r\nContent-Type: " + ctype +
           b"\r\nContent-Length: 5\r\n\r\nhello")
    r = raw(env, req)
    assert_matrix_error(r, 400)


@pytest.mark.parametrize("filename", ["a%00b", "a%0Ab", "%FF%FE", "%zz",
                                      "x" * 1100])
def test_invalid_upload_filename(env, filename):
    r = get(env, LEGACY + "/upload?filename=" + filename,
            headers={"Authorization": "Bearer " + env.token,
                     "Content-Type": "text/plain"},
            method="POST", body=b"hello")
    assert_matrix_error(r, 400)


def test_body_shorter_than_content_length_stores_nothing(env):
    store = os.path.join(env.data_dir, "media_store")
    files_before = sum(len(f) for _, _, f in os.walk(store))
    with socket.create_connection(("127.0.0.1", env.port), timeout=10) as c:
        c.sendall(("POST %s/upload HTTP/1.1\r\nHost: x\r\n"
                   "Authorization: Bearer %s\r\nContent-Length: 100000\r\n"
                   "Content-Type: text/plain\r\n\r\n" % (LEGACY, env.token)
                   ).encode() + b"partial" * 10)
        c.shutdown(socket.SHUT_WR)
        try:
            data = c.recv(65536)
        except (ConnectionResetError, socket.timeout):
            data = b""
    assert b"content_uri" not in data
    assert_still_serving(env)
    # The program notices the cut body when lighttpd drops the request;
    # give it a moment to remove its temp file.
    deadline = time.time() + 5
    while True:
        files = [os.path.join(d, f) for d, _, fs in os.walk(store)
                 for f in fs]
        if len(files) == files_before or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(files) == files_before, files


# --- afterwards ---

def test_everything_still_works_afterwards(env):
    payload = os.urandom(70000)
    r = requests.post(env.url(LEGACY + "/upload"), data=payload,
                      params={"filename": "after.bin"},
                      headers=dict(env.auth(env.token),
                                   **{"Content-Type": "image/png"}),
                      timeout=10)
    assert r.status_code == 200, r.text
    media_id = r.json()["content_uri"].rsplit("/", 1)[1]
    for prefix in [LEGACY, V1]:
        r = requests.get(env.url(_path(prefix, env.server_name, media_id)),
                         headers=env.auth(env.token), timeout=10)
        assert r.status_code == 200
        assert r.content == payload
    # Every program is still the same process: nothing crashed.
    pids = sorted(env.child_pids())
    assert pids == env.start_pids
    assert all(alive(p) for p in pids)
