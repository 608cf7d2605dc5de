"""Asynchronous uploads (MSC2246, spec 2.5): POST /_matrix/media/v1/create
reserves an id, PUT /_matrix/media/v3/upload/{server}/{id} fills it, and
downloads of a pending id wait for it."""
import os
import re
import threading
import time
import urllib.parse

import pytest
import requests

MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{24,}$")
DAY_MS = 24 * 3600 * 1000


def create(stack, token, **kw):
    return requests.post(stack.url("/_matrix/media/v1/create"),
                         headers=stack.auth(token), json={}, timeout=10, **kw)


def created_id(stack, r):
    assert r.status_code == 200, r.text
    body = r.json()
    m = re.match(r"^mxc://([^/]+)/(.+)$", body["content_uri"])
    assert m, body
    assert m.group(1) == stack.server_name
    assert MEDIA_ID.match(m.group(2)), m.group(2)
    return m.group(2), body


def put(stack, token, media_id, data, content_type=None, filename=None,
        server=None):
    url = stack.url("/_matrix/media/v3/upload/%s/%s" % (
        server or stack.server_name, media_id))
    if filename is not None:
        url += "?" + urllib.parse.urlencode({"filename": filename})
    headers = stack.auth(token)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return requests.put(url, data=data, headers=headers, timeout=30)


def download(stack, media_id, query="", timeout=30):
    return requests.get(stack.url("/_matrix/media/v3/download/%s/%s%s" % (
        stack.server_name, media_id, query)), timeout=timeout)


def assert_matrix_error(r, status, errcode):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json")
    body = r.json()
    assert body.get("errcode") == errcode, body
    return body


def disposition_filename(cd):
    m = re.search(r"filename\*=utf-8''([^;\s]+)", cd, re.I)
    if m:
        return urllib.parse.unquote(m.group(1), errors="strict")
    m = re.search(r'filename="((?:[^"\\]|\\.)*)"', cd)
    return re.sub(r"\\(.)", r"\1", m.group(1)) if m else None


@pytest.fixture
def user(stack):
    """A fresh user per test, so pending-upload caps never carry over."""
    return stack.new_token()


def test_create_then_put_then_download(stack, user):
    t0 = time.time() * 1000
    mid, body = created_id(stack, create(stack, user))
    exp = body["unused_expires_at"]
    assert isinstance(exp, int) and not isinstance(exp, bool), body
    # The default lifetime is 24 h; allow for clock steps during the call.
    assert t0 + DAY_MS - 60000 <= exp <= time.time() * 1000 + DAY_MS + 60000

    data = os.urandom(4096)
    r = put(stack, user, mid, data, "image/png", "pic \u00e9.png")
    assert r.status_code == 200, r.text
    assert r.json() == {}

    d = download(stack, mid)
    assert d.status_code == 200, d.text
    assert d.content == data
    assert d.headers["Content-Type"] == "image/png"
    assert disposition_filename(d.headers["Content-Disposition"]) == \
        "pic \u00e9.png"


def test_put_without_content_type_is_octet_stream(stack, user):
    mid, _ = created_id(stack, create(stack, user))
    r = put(stack, user, mid, b"untyped")
    assert "Content-Type" not in r.request.headers
    assert r.status_code == 200, r.text
    d = download(stack, mid)
    assert d.content == b"untyped"
    assert d.headers["Content-Type"] == "application/octet-stream"


def test_second_put_is_409(stack, user):
    mid, _ = created_id(stack, create(stack, user))
    assert put(stack, user, mid, b"first", "text/plain").status_code == 200
    r = put(stack, user, mid, b"second", "text/plain")
    assert_matrix_error(r, 409, "M_CANNOT_OVERWRITE_MEDIA")
    assert download(stack, mid).content == b"first"


def test_put_to_unknown_id_is_404(stack, user):
    r = put(stack, user, "A" * 24, b"x")
    assert_matrix_error(r, 404, "M_NOT_FOUND")


def test_put_to_post_uploaded_id_is_refused(stack, user):
    # An id made by POST /upload already has content: not reusable by PUT.
    r = requests.post(stack.url("/_matrix/media/v3/upload"), data=b"orig",
                      headers=stack.auth(user), timeout=10)
    mid = r.json()["content_uri"].rsplit("/", 1)[1]
    r = put(stack, user, mid, b"overwrite")
    assert r.status_code in (404, 409), r.text
    assert download(stack, mid).content == b"orig"


def test_put_to_other_server_is_404(stack, user):
    mid, _ = created_id(stack, create(stack, user))
    r = put(stack, user, mid, b"x", server="other.example.org")
    assert_matrix_error(r, 404, "M_NOT_FOUND")
    # The id itself is still pending and usable.
    assert put(stack, user, mid, b"ok").status_code == 200


def test_put_by_another_user_is_403(stack, user):
    mid, _ = created_id(stack, create(stack, user))
    r = put(stack, stack.new_token(), mid, b"intruder")
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    assert put(stack, user, mid, b"owner").status_code == 200
    assert download(stack, mid).content == b"owner"


def test_put_without_token_is_401(stack, user):
    mid, _ = created_id(stack, create(stack, user))
    r = requests.put(stack.url("/_matrix/media/v3/upload/%s/%s" % (
        stack.server_name, mid)), data=b"x", timeout=10)
    assert_matrix_error(r, 401, "M_MISSING_TOKEN")


def test_expired_id_is_404(make_stack):
    s = make_stack(["unused_expiration_time = 1s"])
    tok = s.new_token()
    t0 = time.time() * 1000
    mid, body = created_id(s, create(s, tok))
    assert t0 + 1000 - 5000 <= body["unused_expires_at"] <= \
        time.time() * 1000 + 1000 + 5000
    time.sleep(max(0.0, body["unused_expires_at"] / 1000 - time.time())
               + 0.2)
    r = put(s, tok, mid, b"too late")
    assert_matrix_error(r, 404, "M_NOT_FOUND")
    assert_matrix_error(download(s, mid, "?timeout_ms=0"), 404,
                        "M_NOT_FOUND")


def test_pending_cap_per_user(stack, user):
    ids = [created_id(stack, create(stack, user))[0] for _ in range(5)]
    assert len(set(ids)) == 5
    r = create(stack, user)
    assert_matrix_error(r, 429, "M_LIMIT_EXCEEDED")
    ra = r.headers.get("Retry-After")
    assert ra is not None and ra.isdigit() and int(ra) > 0, ra
    # Someone else is not affected.
    created_id(stack, create(stack, stack.new_token()))
    # Filling one pending id frees a slot.
    assert put(stack, user, ids[0], b"done").status_code == 200
    created_id(stack, create(stack, user))
    assert_matrix_error(create(stack, user), 429, "M_LIMIT_EXCEEDED")


def test_download_of_pending_id_times_out_504(stack, user):
    mid, _ = created_id(stack, create(stack, user))
    t = time.monotonic()
    r = download(stack, mid, "?timeout_ms=500")
    elapsed = time.monotonic() - t
    assert_matrix_error(r, 504, "M_NOT_YET_UPLOADED")
    assert elapsed >= 0.4, elapsed


def test_download_of_pending_id_on_v1_times_out_504(stack, user):
    mid, _ = created_id(stack, create(stack, user))
    r = requests.get(stack.url("/_matrix/client/v1/media/download/%s/%s"
                               "?timeout_ms=200" % (stack.server_name, mid)),
                     headers=stack.auth(user), timeout=10)
    assert_matrix_error(r, 504, "M_NOT_YET_UPLOADED")


def test_download_waits_for_put(stack, user):
    mid, _ = created_id(stack, create(stack, user))
    data = os.urandom(10000)
    result = {}

    def fetch():
        result["t0"] = time.monotonic()
        try:
            result["r"] = download(stack, mid, "?timeout_ms=10000", timeout=20)
        except Exception as e:  # reported below
            result["e"] = e
        result["t1"] = time.monotonic()

    th = threading.Thread(target=fetch)
    th.start()
    time.sleep(0.3)  # the download is waiting on the pending id
    assert th.is_alive(), result
    put_at = time.monotonic()
    r = put(stack, user, mid, data, "text/plain", "late.txt")
    assert r.status_code == 200, r.text
    th.join(15)
    assert not th.is_alive()
    assert "e" not in result, result
    d = result["r"]
    assert d.status_code == 200, d.text
    assert d.content == data
    assert d.headers["Content-Type"] == "text/plain"
    assert disposition_filename(d.headers["Content-Disposition"]) == \
        "late.txt"
    # It answered because the PUT landed, not because the wait ran out.
    assert result["t1"] >= put_at
    assert result["t1"] - result["t0"] < 9


def test_create_without_token_is_401(stack):
    r = requests.post(stack.url("/_matrix/media/v1/create"), json={},
                      timeout=10)
    assert_matrix_error(r, 401, "M_MISSING_TOKEN")


def test_create_with_bad_token_is_401(stack):
    r = create(stack, "bogus")
    assert_matrix_error(r, 401, "M_UNKNOWN_TOKEN")


def test_create_with_get_is_405(stack, user):
    r = requests.get(stack.url("/_matrix/media/v1/create"),
                     headers=stack.auth(user), timeout=10)
    assert_matrix_error(r, 405, "M_UNRECOGNIZED")


def test_create_only_on_v1(stack, user):
    r = requests.post(stack.url("/_matrix/media/v3/create"),
                      headers=stack.auth(user), json={}, timeout=10)
    assert_matrix_error(r, 404, "M_UNRECOGNIZED")
