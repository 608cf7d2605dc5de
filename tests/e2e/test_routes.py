"""Routing: config on every prefix, OPTIONS, wrong methods, unknown paths,
the shape of every error, request ids and the request log (spec.md 2.1,
2.9, 2.12; DESIGN.md "Routes", "Errors and bad input")."""
import re
import socket

import pytest
import requests

CONFIG_PATHS = [
    "/_matrix/media/r0/config",
    "/_matrix/media/v1/config",
    "/_matrix/media/v3/config",
    "/_matrix/client/r0/media/config",
    "/_matrix/client/v1/media/config",
    "/_matrix/client/unstable/org.matrix.msc1902/media/config",
]
DEFAULT_MAX_UPLOAD = 50 * 1024 * 1024


def assert_matrix_error(r, status, errcode=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), \
        r.headers
    body = r.json()
    assert isinstance(body, dict)
    assert isinstance(body.get("errcode"), str) and \
        body["errcode"].startswith("M_"), body
    assert isinstance(body.get("error"), str), body
    if errcode is not None:
        assert body["errcode"] == errcode, body
    return body


def call(s, method, path, token=None, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers.update(s.auth(token))
    return requests.request(method, s.url(path), headers=headers, timeout=10,
                            **kw)


# --- config ---

@pytest.mark.parametrize("path", CONFIG_PATHS)
def test_config_on_every_prefix(stack, path):
    r = call(stack, "GET", path, stack.token)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"m.upload.size": DEFAULT_MAX_UPLOAD}
    assert r.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", CONFIG_PATHS)
def test_config_refuses_guests(stack, path):
    r = call(stack, "GET", path, stack.new_token(guest=True))
    assert_matrix_error(r, 403, "M_GUEST_ACCESS_FORBIDDEN")


@pytest.mark.parametrize("path", CONFIG_PATHS)
def test_config_needs_a_token(stack, path):
    assert_matrix_error(call(stack, "GET", path), 401, "M_MISSING_TOKEN")
    assert_matrix_error(call(stack, "GET", path, "mr_bogus"), 401,
                        "M_UNKNOWN_TOKEN")


def test_config_follows_max_upload_size(make_stack):
    s = make_stack(["max_upload_size = 10K"])
    for path in CONFIG_PATHS:
        r = call(s, "GET", path, s.token)
        assert r.json() == {"m.upload.size": 10240}, path


# --- OPTIONS ---

@pytest.mark.parametrize("path", [
    "/_matrix/media/v3/upload",
    "/_matrix/media/v3/upload/localhost/abc",
    "/_matrix/media/v1/create",
    "/_matrix/media/v3/download/example.org/abc",
    "/_matrix/client/v1/media/download/example.org/abc/x.png",
    "/_matrix/media/v3/config",
    "/_matrix/client/v1/media/config",
    "/_matrix/media/v3/nonsense",
    "/_matrix/client/v3/whatever",
    "/_matrix/media/v3/download/..%2F..%2Fetc/%00",
])
def test_options_is_cors_preflight_only(stack, path):
    r = requests.options(stack.url(path), timeout=10, headers={
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert r.status_code == 204, (r.status_code, r.text)
    assert r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    methods = {m.strip() for m in
               r.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "DELETE", "OPTIONS"} <= methods
    allowed = {h.strip().lower() for h in
               r.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"x-requested-with", "content-type", "authorization"} <= allowed


def test_options_runs_no_endpoint_logic(stack):
    before = call(stack, "GET", "/_matrix/client/v1/media/config",
                  stack.token)
    assert before.status_code == 200
    # Upload without a token would be 401; a body would make media.
    r = requests.options(stack.url("/_matrix/media/v3/upload"),
                         data=b"not media", timeout=10)
    assert r.status_code == 204
    assert r.content == b""
    r = requests.options(stack.url("/_matrix/media/v1/create"), timeout=10)
    assert r.status_code == 204
    assert "content_uri" not in r.text


# --- wrong method, unknown path ---

@pytest.mark.parametrize("method,path", [
    ("GET", "/_matrix/media/v3/upload"),
    ("PUT", "/_matrix/media/v3/upload"),
    ("GET", "/_matrix/media/v3/upload/localhost/abc"),
    ("GET", "/_matrix/media/v1/create"),
    ("POST", "/_matrix/media/v3/download/localhost/abc"),
    ("POST", "/_matrix/client/v1/media/download/localhost/abc"),
    ("DELETE", "/_matrix/media/v3/download/localhost/abc"),
    ("PUT", "/_matrix/media/v3/config"),
    ("POST", "/_matrix/client/v1/media/config"),
    ("DELETE", "/_matrix/media/r0/config"),
])
def test_wrong_method_is_405(stack, method, path):
    # With a token, so the answer is about the method, not auth.
    r = call(stack, method, path, stack.token)
    assert_matrix_error(r, 405, "M_UNRECOGNIZED")
    assert r.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("method,path", [
    ("GET", "/_matrix/media/v3/nonsense"),
    ("POST", "/_matrix/client/v1/media/upload"),
    ("POST", "/_matrix/media/v3/create"),
    ("POST", "/_matrix/media/r0/create"),
    ("GET", "/_matrix/client/r0/media/download"),
    ("GET", "/_matrix/client/r0/media/download/"),
    ("GET", "/_matrix/media/v3/download/localhost"),
    ("GET", "/_matrix/media/v3/download/localhost/a/b/c"),
    ("GET", "/_matrix/media/v3/configs"),
    ("GET", "/_matrix/media/v3/config/extra"),
    ("GET", "/_matrix/media/v4/config"),
    ("GET", "/_matrix/client/v3/sync"),
    ("GET", "/_matrix/"),
])
def test_unknown_path_is_404_unrecognized(stack, method, path):
    r = call(stack, method, path, stack.token)
    assert_matrix_error(r, 404, "M_UNRECOGNIZED")
    assert r.headers["Access-Control-Allow-Origin"] == "*"


# --- every error: JSON, errcode, error, CORS ---

ERRORS = [
    ("GET", "/_matrix/media/v3/config", None, 401),
    ("GET", "/_matrix/client/v1/media/download/localhost/abc", None, 401),
    ("GET", "/_matrix/media/v3/download/localhost/NoSuchMedia"
     "?allow_remote=false", "tok", 404),
    ("GET", "/_matrix/media/v3/download/bad%20server/abc", None, 400),
    ("GET", "/_matrix/media/v3/download/localhost/abc?timeout_ms=x", None,
     400),
    ("POST", "/_matrix/media/v3/upload", None, 401),
    ("PUT", "/_matrix/media/v3/upload/example.org/abc", "tok", 404),
    ("POST", "/_matrix/media/v1/create", "bad", 401),
    ("GET", "/_matrix/media/v3/upload", "tok", 405),
    ("GET", "/_matrix/media/v3/unknown", None, 404),
    ("GET", "/_matrix/media/v3/download/localhost/abc%zz", None, 400),
]


@pytest.mark.parametrize("method,path,tok,status", ERRORS)
def test_errors_are_matrix_json_with_cors(stack, method, path, tok, status):
    token = {"tok": stack.token, "bad": "mr_bad", None: None}[tok]
    r = call(stack, method, path, token)
    assert_matrix_error(r, status)
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers.get("X-Request-Id")


@pytest.mark.parametrize("case", ["nul-in-path", "range-416"])
def test_web_server_errors_are_matrix_json_with_cors(stack, case):
    """Errors lighttpd answers itself: JSON from httpd-conf/errors, and
    (spec.md 2.1) CORS headers on all requests."""
    if case == "nul-in-path":
        r = call(stack, "GET", "/_matrix/media/v3/download/localhost/a%00b")
        # lighttpd lets it through to the program; Apache refuses it
        # itself with 404, nginx with 400 (README "Web servers").
        status = 404 if stack.webserver == "apache" else 400
    else:
        mid = stack.upload(b"short", "text/plain")
        r = call(stack, "GET", "/_matrix/media/v3/download/%s/%s" %
                 (stack.server_name, mid), headers={"Range": "bytes=100-"})
        status = 416
    assert_matrix_error(r, status)
    assert r.headers.get("Access-Control-Allow-Origin") == "*", r.headers


# --- request ids and the log ---

def test_request_id_is_unique(stack):
    ids = set()
    for path in ["/_matrix/media/v3/config", "/_matrix/media/v3/config",
                 "/_matrix/media/v3/nonsense"]:
        r = call(stack, "GET", path, stack.token)
        rid = r.headers.get("X-Request-Id")
        assert rid and re.fullmatch(r"[0-9A-Za-z_-]{8,64}", rid), rid
        ids.add(rid)
    assert len(ids) == 3


def log_lines_for(s, rid):
    return [ln for ln in s.read_log().splitlines() if rid in ln]


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/_matrix/media/v3/config", 200),
    ("GET", "/_matrix/client/v1/media/config", 401),
    ("GET", "/_matrix/media/v3/nonsense", 404),
    ("POST", "/_matrix/media/v3/download/localhost/abc", 405),
])
def test_one_log_line_per_request(stack, method, path, status):
    token = stack.token if status == 200 else None
    r = call(stack, method, path, token)
    assert r.status_code == status
    lines = log_lines_for(stack, r.headers["X-Request-Id"])
    assert len(lines) == 1, stack.read_log()[-2000:]
    line = lines[0]
    assert method in line
    assert path in line
    assert re.search(r"\b%d\b" % status, line)


def test_access_token_never_logged(stack):
    token = stack.new_token()
    r = call(stack, "GET", "/_matrix/media/v3/config?access_token=" + token)
    assert r.status_code == 200, r.text
    r2 = call(stack, "GET", "/_matrix/media/v3/config?foo=1&access_token=" +
              token + "&bar=2")
    assert r2.status_code == 200
    r3 = call(stack, "GET", "/_matrix/media/v3/config", token)
    assert r3.status_code == 200
    bad = "mr_" + "Z" * 43
    call(stack, "GET", "/_matrix/media/v3/config?access_token=" + bad)
    log = stack.read_log()
    assert token not in log
    assert bad not in log
    assert stack.token not in log.split("token for @admin")[-1].split(
        "\n", 1)[-1]


def test_query_access_token_accepted(stack):
    r = call(stack, "GET", "/_matrix/media/v3/config?access_token=" +
             stack.token)
    assert r.status_code == 200
    assert r.json()["m.upload.size"] == DEFAULT_MAX_UPLOAD


def test_server_keeps_serving_after_client_aborts(stack):
    # A request cut off mid-headers must not wedge a process.
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", stack.port),
                                      timeout=5) as c:
            c.sendall(b"GET /_matrix/media/v3/config HTTP/1.1\r\nHost: x\r\n")
    r = call(stack, "GET", "/_matrix/media/v3/config", stack.token)
    assert r.status_code == 200
