"""Downloads on every prefix, through both ways the bytes leave the server.

The module's `stack` lets lighttpd send files (X-Sendfile); `stream_stack`
has xsendfile off, so download.fcgi streams the bytes and answers Range
itself. Every behaviour test runs against both and against all six
download prefixes (spec.md 2.3, 2.6, 2.7; DESIGN.md "Routes").
"""
import re
import socket
import urllib.parse

import pytest
import requests

from conftest import Stack

LEGACY_PREFIXES = [
    "/_matrix/media/r0",
    "/_matrix/media/v1",
    "/_matrix/media/v3",
    "/_matrix/client/r0/media",
    "/_matrix/client/unstable/org.matrix.msc1902/media",
]
V1 = "/_matrix/client/v1/media"
PREFIXES = LEGACY_PREFIXES + [V1]

CSP = ("sandbox; default-src 'none'; script-src 'none'; plugin-types "
       "application/pdf; style-src 'unsafe-inline'; object-src 'self';")

BODY = bytes(range(256)) * 4 + b"tail\r\n\x00end"   # every byte value, 1035 bytes


@pytest.fixture(scope="module")
def stream_stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("stream"), ["xsendfile = off"])
    yield s
    s.stop()


@pytest.fixture(scope="module", params=["x-sendfile", "stream"])
def srv(request):
    """Both delivery modes, each with its own uploads made once."""
    s = request.getfixturevalue(
        "stack" if request.param == "x-sendfile" else "stream_stack")
    if not hasattr(s, "media"):
        s.media = {
            "bin": s.upload(BODY, "application/octet-stream",
                            filename="blob.bin"),
            "text": s.upload(b"0123456789abcdefghij", "text/plain",
                             filename="notes.txt"),
            "noname": s.upload(b"no name here", "image/png"),
            "chicken": s.upload(b"\x89PNG chicken", "image/png",
                                filename="\U0001F414.png"),
        }
        s.mode = request.param
    return s


def dl_path(s, prefix, media_id, name=None, server=None):
    p = "%s/download/%s/%s" % (prefix, server or s.server_name, media_id)
    return p + "/" + name if name is not None else p


def get(s, prefix, media_id, name=None, headers=None, method="GET",
        token=None, server=None, params=None):
    h = dict(headers or {})
    if prefix == V1 and token is None:
        token = s.token
    if token:
        h.update(s.auth(token))
    return requests.request(method, s.url(dl_path(s, prefix, media_id, name,
                                                  server)),
                            headers=h, params=params, timeout=10)


def disposition(value):
    """(kind, filename or None) from a Content-Disposition value."""
    kind = value.split(";")[0].strip()
    m = re.search(r"filename\*\s*=\s*([^']*)'[^']*'([^;\s]+)", value)
    if m:
        assert m.group(1).lower() == "utf-8", value
        return kind, urllib.parse.unquote(m.group(2), errors="strict")
    m = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"', value)
    if m:
        return kind, re.sub(r"\\(.)", r"\1", m.group(1))
    m = re.search(r"filename\s*=\s*([^;\s]+)", value)
    return kind, (m.group(1) if m else None)


def assert_matrix_error(r, status, errcode):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["errcode"] == errcode, body
    assert isinstance(body.get("error"), str)


# --- bytes and headers ---

@pytest.mark.parametrize("prefix", PREFIXES)
def test_exact_bytes_and_media_headers(srv, prefix):
    r = get(srv, prefix, srv.media["bin"])
    assert r.status_code == 200, r.text
    assert r.content == BODY
    h = r.headers
    assert h["Content-Type"] == "application/octet-stream"
    assert int(h["Content-Length"]) == len(BODY)
    assert h["Content-Security-Policy"] == CSP
    assert h["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert h["Access-Control-Allow-Origin"] == "*"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Cache-Control"]
    assert re.fullmatch(r'"[^"]+"', h["ETag"]), h["ETag"]   # strong: no W/
    assert h["Accept-Ranges"] == "bytes"
    assert h.get("X-Sendfile") is None      # never leaks to the client


def test_delivery_mode_is_the_one_configured(srv):
    """Only lighttpd's own file sending adds Last-Modified; the stream
    path of download.fcgi does not. Guards the fixture: both modes run."""
    r = get(srv, "/_matrix/media/v3", srv.media["bin"])
    assert r.content == BODY
    assert ("Last-Modified" in r.headers) == (srv.mode == "x-sendfile")


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("ctype,kind", [
    ("text/plain", "inline"),
    ("image/png", "inline"),
    ("text/html", "attachment"),
    ("image/svg+xml", "attachment"),
    ("application/octet-stream", "attachment"),
])
def test_content_type_verbatim_and_disposition(srv, prefix, ctype, kind):
    key = "ct:" + ctype
    if key not in srv.media:
        srv.media[key] = srv.upload(b"<svg onload=alert(1)>", ctype,
                                    filename="file.x")
    r = get(srv, prefix, srv.media[key])
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == ctype
    assert disposition(r.headers["Content-Disposition"]) == (kind, "file.x")
    assert r.content == b"<svg onload=alert(1)>"


def test_content_type_with_parameters_kept_verbatim(srv):
    mid = srv.upload(b"a,b\n", "text/csv; charset=utf-8; header=present")
    r = get(srv, "/_matrix/media/v3", mid)
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8; header=present"
    assert disposition(r.headers["Content-Disposition"]) == ("inline", None)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_filename_from_upload(srv, prefix):
    r = get(srv, prefix, srv.media["text"])
    assert r.content == b"0123456789abcdefghij"
    assert disposition(r.headers["Content-Disposition"]) == \
        ("inline", "notes.txt")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_unicode_filename_from_upload_round_trips(srv, prefix):
    r = get(srv, prefix, srv.media["chicken"])
    assert r.content == b"\x89PNG chicken"
    assert disposition(r.headers["Content-Disposition"]) == \
        ("inline", "\U0001F414.png")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_path_filename_overrides_upload_name(srv, prefix):
    r = get(srv, prefix, srv.media["text"], name="other.txt")
    assert r.status_code == 200, r.text
    assert r.content == b"0123456789abcdefghij"
    assert disposition(r.headers["Content-Disposition"]) == \
        ("inline", "other.txt")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_percent_encoded_path_filename(srv, prefix):
    r = get(srv, prefix, srv.media["text"], name="%F0%9F%90%94.png")
    assert r.status_code == 200, r.text
    # The name changes, the kind still follows the stored type.
    assert disposition(r.headers["Content-Disposition"]) == \
        ("inline", "\U0001F414.png")
    r = get(srv, prefix, srv.media["bin"], name="my%20file%22x%22.bin")
    assert r.status_code == 200, r.text
    assert disposition(r.headers["Content-Disposition"]) == \
        ("attachment", 'my file"x".bin')


@pytest.mark.parametrize("prefix", PREFIXES)
def test_no_filename_means_no_filename_param(srv, prefix):
    r = get(srv, prefix, srv.media["noname"])
    assert r.status_code == 200
    assert r.content == b"no name here"
    cd = r.headers["Content-Disposition"]
    assert cd.strip() == "inline", cd
    assert "filename" not in cd


# --- caching, ranges, HEAD ---

@pytest.mark.parametrize("prefix", PREFIXES)
def test_if_none_match_gives_304_without_body(srv, prefix):
    etag = get(srv, prefix, srv.media["bin"]).headers["ETag"]
    r = get(srv, prefix, srv.media["bin"], headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["ETag"] == etag
    other = get(srv, prefix, srv.media["text"]).headers["ETag"]
    assert other != etag
    r = get(srv, prefix, srv.media["bin"], headers={"If-None-Match": other})
    assert r.status_code == 200
    assert r.content == BODY


@pytest.mark.parametrize("prefix", PREFIXES)
def test_range_first_bytes(srv, prefix):
    r = get(srv, prefix, srv.media["bin"], headers={"Range": "bytes=0-9"})
    assert r.status_code == 206, r.text
    assert r.content == BODY[:10]
    assert r.headers["Content-Range"] == "bytes 0-9/%d" % len(BODY)
    assert r.headers["Content-Length"] == "10"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_range_suffix(srv, prefix):
    r = get(srv, prefix, srv.media["bin"], headers={"Range": "bytes=-5"})
    assert r.status_code == 206, r.text
    assert r.content == BODY[-5:]
    n = len(BODY)
    assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (n - 5, n - 1, n)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_range_middle_open_end(srv, prefix):
    r = get(srv, prefix, srv.media["bin"], headers={"Range": "bytes=1000-"})
    assert r.status_code == 206
    assert r.content == BODY[1000:]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_range_beyond_size_is_416(srv, prefix):
    r = get(srv, prefix, srv.media["bin"],
            headers={"Range": "bytes=%d-" % (len(BODY) + 10)})
    assert r.status_code == 416
    assert BODY[:64] not in r.content


def raw_request(s, data):
    """Sends raw bytes, returns everything until the server closes."""
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(data)
        out = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return out
            out += chunk


@pytest.mark.parametrize("prefix", PREFIXES)
def test_head_has_headers_and_no_body(srv, prefix):
    auth = "Authorization: Bearer %s\r\n" % srv.token if prefix == V1 else ""
    raw = raw_request(srv, (
        "HEAD %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n"
        % (dl_path(srv, prefix, srv.media["bin"]), auth)).encode())
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].split()[1] == "200", lines[0]
    hdrs = {k.strip().lower(): v.strip() for k, v in
            (ln.split(":", 1) for ln in lines[1:])}
    assert hdrs["content-length"] == str(len(BODY))
    assert hdrs["content-type"] == "application/octet-stream"
    assert hdrs["content-disposition"].startswith("attachment")
    assert hdrs["etag"].startswith('"')
    assert hdrs["content-security-policy"] == CSP
    assert rest == b""


# --- not found ---

@pytest.mark.parametrize("prefix", PREFIXES)
def test_unknown_media_id_is_404(srv, prefix):
    r = get(srv, prefix, "NoSuchMediaId0123456789")
    assert_matrix_error(r, 404, "M_NOT_FOUND")
    assert r.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_media_of_another_server_is_404(srv, prefix):
    # With allow_remote=false nothing is fetched: unknown remote media
    # is simply not found. (Fetching is covered by the federation tests;
    # example.org cannot be reached from here, which gives 502.)
    r = get(srv, prefix, "abc", server="example.org",
            params={"allow_remote": "false"})
    assert_matrix_error(r, 404, "M_NOT_FOUND")
    # Our own id under another server's name is not ours either.
    r = get(srv, prefix, srv.media["text"], server="example.org",
            params={"allow_remote": "false"})
    assert_matrix_error(r, 404, "M_NOT_FOUND")
    r = get(srv, prefix, "abc", server="example.org")
    assert r.status_code in (404, 502), (r.status_code, r.text)
    assert r.json()["errcode"].startswith("M_")


# --- auth on /_matrix/client/v1 ---

def test_v1_without_token_is_401(srv):
    r = requests.get(srv.url(dl_path(srv, V1, srv.media["text"])), timeout=10)
    assert_matrix_error(r, 401, "M_MISSING_TOKEN")
    assert b"0123456789" not in r.content


def test_v1_bad_token_is_401(srv):
    r = get(srv, V1, srv.media["text"], token="mr_not_a_real_token")
    assert_matrix_error(r, 401, "M_UNKNOWN_TOKEN")
    r = requests.get(srv.url(dl_path(srv, V1, srv.media["text"])),
                     headers={"Authorization": "Bearer "}, timeout=10)
    assert r.status_code == 401


@pytest.mark.parametrize("bad", ["%2E%2E", "bad%20id", "a%2Fb", "x" * 300])
def test_v1_auth_checked_before_media_id(srv, bad):
    r = requests.get(srv.url("%s/download/%s/%s" % (V1, srv.server_name, bad)),
                     timeout=10)
    assert_matrix_error(r, 401, "M_MISSING_TOKEN")
    r = requests.get(srv.url("%s/download/%s/%s" % (V1, srv.server_name, bad)),
                     headers=srv.auth("mr_wrong"), timeout=10)
    assert_matrix_error(r, 401, "M_UNKNOWN_TOKEN")
    r = requests.get(srv.url("%s/download/%%C3%%A9%%20x/%s" % (V1, bad)),
                     timeout=10)
    assert_matrix_error(r, 401, "M_MISSING_TOKEN")


def test_v1_guest_token_allowed(srv):
    guest = srv.new_token(guest=True)
    r = get(srv, V1, srv.media["text"], token=guest)
    assert r.status_code == 200, r.text
    assert r.content == b"0123456789abcdefghij"
    r = get(srv, V1, srv.media["text"], name="g.txt", token=guest)
    assert r.status_code == 200
    assert disposition(r.headers["Content-Disposition"])[1] == "g.txt"


def test_v1_authenticated_response_is_not_publicly_cacheable(srv):
    r = get(srv, V1, srv.media["text"])
    assert "public" not in r.headers["Cache-Control"]


@pytest.mark.parametrize("prefix", LEGACY_PREFIXES)
def test_legacy_needs_no_token_and_ignores_a_bad_one(srv, prefix):
    r = requests.get(srv.url(dl_path(srv, prefix, srv.media["text"])),
                     timeout=10)
    assert r.status_code == 200
    assert r.content == b"0123456789abcdefghij"
    r = requests.get(srv.url(dl_path(srv, prefix, srv.media["text"])),
                     headers=srv.auth("mr_wrong"), timeout=10)
    assert r.status_code == 200
    assert r.content == b"0123456789abcdefghij"


def test_legacy_media_requires_auth(make_stack):
    s = make_stack(["legacy_media_requires_auth = true"])
    mid = s.upload(b"private bytes", "text/plain")
    for prefix in LEGACY_PREFIXES:
        r = requests.get(s.url(dl_path(s, prefix, mid)), timeout=10)
        assert_matrix_error(r, 401, "M_MISSING_TOKEN")
        assert b"private bytes" not in r.content
        r = requests.get(s.url(dl_path(s, prefix, mid)),
                         headers=s.auth("mr_wrong"), timeout=10)
        assert_matrix_error(r, 401, "M_UNKNOWN_TOKEN")
        r = requests.get(s.url(dl_path(s, prefix, mid)),
                         headers=s.auth(s.token), timeout=10)
        assert r.status_code == 200
        assert r.content == b"private bytes"
    r = requests.get(s.url(dl_path(s, V1, mid)), headers=s.auth(s.token),
                     timeout=10)
    assert r.content == b"private bytes"


# --- query parameters ---

@pytest.mark.parametrize("prefix", PREFIXES)
def test_unknown_query_params_ignored(srv, prefix):
    r = get(srv, prefix, srv.media["text"],
            params={"allow_redirect": "true", "foo": "bar", "x": ""})
    assert r.status_code == 200, r.text
    assert r.content == b"0123456789abcdefghij"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_allow_remote_false_on_local_media(srv, prefix):
    r = get(srv, prefix, srv.media["text"],
            params={"allow_remote": "false", "timeout_ms": "100"})
    assert r.status_code == 200, r.text
    assert r.content == b"0123456789abcdefghij"


def test_allow_remote_false_on_remote_media_is_404(srv):
    r = get(srv, "/_matrix/media/v3", "abc", server="example.org",
            params={"allow_remote": "false"})
    assert_matrix_error(r, 404, "M_NOT_FOUND")
