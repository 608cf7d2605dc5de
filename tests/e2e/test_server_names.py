"""Server names are compared as names, not bytes (issue 10).

A block list, allow list or prevent list names a server once; another
spelling of the same server must not pass it. DNS names are compared
without case, and IP literals have one spelling: other spellings
(127.000.000.001, 127.1, [::ffff:127.0.0.1], ...) are refused with 400
wherever a server name comes in.

One stack, and a canary: a loopback listener that counts connections and
closes them. Every name these tests send would reach the canary if the
stack went out to fetch media or keys (through federation_resolve, or
directly as 127.0.0.1 with ip_range_whitelist letting it through), so
"the canary saw nothing" means "no network fetch".
"""
import json
import time

import pytest
import requests
import signedjson.key

from conftest import Stack, free_port
from fedpeer import SilentServer, sign_request

V3 = "/_matrix/media/v3"
V1 = "/_matrix/client/v1/media"
FED_V1 = "/_matrix/federation/v1/media"


@pytest.fixture(scope="module")
def canary():
    c = SilentServer("127.0.0.1", free_port(), close=True)
    c.port = c.sock.getsockname()[1]
    yield c
    c.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, canary):
    c = canary.port
    s = Stack(tmp_path_factory.mktemp("names"), [
        "prevent_media_downloads_from = peer.test",
        "federation_blocked_servers = localhost:%d, 127.0.0.1:%d" % (c, c),
        # PEER.TEST is spelled as a client spells it, so that a fetch
        # that got past the prevent list would land on the canary.
        "federation_resolve = PEER.TEST=127.0.0.1:%d, "
        "other.test=127.0.0.1:%d" % (c, c),
        # Names that are 127.0.0.1 would otherwise be refused at connect
        # time, and a fetch that should not happen would go unseen.
        "ip_range_whitelist = 127.0.0.1/32",
        "federation_timeout = 2s",
    ])
    yield s
    s.stop()


def assert_matrix_error(r, status, errcode=None):
    assert r.status_code == status, (r.status_code, r.content[:300])
    assert r.headers["Content-Type"].startswith("application/json")
    obj = json.loads(r.content)
    if errcode is not None:
        assert obj["errcode"] == errcode, obj


def quiet(canary, before):
    """True when the canary saw no connection since before."""
    time.sleep(0.3)
    return canary.connections == before


def media_paths(server, token):
    yield V3 + "/download/%s/x" % server, None
    yield V3 + "/thumbnail/%s/x?width=32&height=32" % server, None
    yield V1 + "/download/%s/x" % server, token
    yield V1 + "/thumbnail/%s/x?width=32&height=32" % server, token


def get(stack, path, token=None, headers=None):
    headers = dict(headers or {})
    if token:
        headers.update(stack.auth(token))
    return requests.get(stack.url(path), headers=headers, timeout=20)


# --- prevent_media_downloads_from ------------------------------------------

@pytest.mark.parametrize("server", ["PEER.TEST", "Peer.Test", "peer.test"])
def test_prevented_server_in_any_case_is_404_without_fetch(stack, canary,
                                                           server):
    before = canary.connections
    for path, token in media_paths(server, stack.token):
        assert_matrix_error(get(stack, path, token), 404, "M_NOT_FOUND")
    assert quiet(canary, before)


def test_canary_sees_a_fetch_that_is_allowed(stack, canary):
    """The control: a name not prevented (other.test, resolved to the
    canary whatever its case) is fetched, and the canary sees it."""
    before = canary.connections
    r = get(stack, V3 + "/download/Other.Test/x")
    assert r.status_code in (502, 504), r.text
    assert canary.connections > before


# --- IP literals in media paths ---------------------------------------------

def literals(port):
    """Other spellings of 127.0.0.1:port, and of other names."""
    return ["127.000.000.001:%d" % port, "127.0.0.01:%d" % port,
            "0177.0.0.1:%d" % port, "127.1:%d" % port,
            "2130706433:%d" % port, "0x7f.0.0.1:%d" % port,
            "[::ffff:127.0.0.1]:%d" % port, "[::ffff:7f00:1]:%d" % port,
            "[0:0:0:0:0:0:0:1]:%d" % port, "[::0001]:%d" % port,
            "127.0.0.1:0%d" % port, "peer.test.", "localhost.:%d" % port]


def test_non_canonical_server_in_media_path_is_400(stack, canary):
    before = canary.connections
    for server in literals(canary.port):
        for path, token in media_paths(server, stack.token):
            r = get(stack, path, token)
            assert_matrix_error(r, 400, "M_INVALID_PARAM")
            assert "server name" in r.json()["error"], (path, r.text)
    assert quiet(canary, before)


# --- federation_blocked_servers and X-Matrix origin ------------------------

@pytest.fixture(scope="module")
def fed_path(stack):
    return FED_V1 + "/download/" + stack.upload(b"not for blocked servers",
                                                 "text/plain")


def signed(stack, origin, path):
    key = signedjson.key.generate_signing_key("a")
    return {"Authorization": sign_request(key, origin, stack.server_name,
                                          "GET", path)}


@pytest.mark.parametrize("spelling", [
    "localhost:%d", "LOCALHOST:%d", "LocalHost:%d", "127.0.0.1:%d"])
def test_blocked_origin_in_any_case_is_403(stack, canary, fed_path,
                                           spelling):
    origin = spelling % canary.port
    before = canary.connections
    r = get(stack, fed_path, headers=signed(stack, origin, fed_path))
    assert_matrix_error(r, 403, "M_FORBIDDEN")
    # Refused before the origin's keys were asked for.
    assert quiet(canary, before)


def test_non_canonical_origin_is_400(stack, canary, fed_path):
    before = canary.connections
    for origin in literals(canary.port):
        r = get(stack, fed_path, headers=signed(stack, origin, fed_path))
        assert_matrix_error(r, 400)
        assert "origin" in r.json()["error"], (origin, r.text)
    assert quiet(canary, before)


def test_non_canonical_destination_is_400(stack, canary, fed_path):
    key = signedjson.key.generate_signing_key("a")
    before = canary.connections
    for dest in ["127.000.000.001:%d" % canary.port, "[::ffff:127.0.0.1]"]:
        auth = sign_request(key, "other.test", dest, "GET", fed_path)
        r = get(stack, fed_path, headers={"Authorization": auth})
        assert_matrix_error(r, 400)
        assert "destination" in r.json()["error"], (dest, r.text)
    assert quiet(canary, before)


def test_canary_sees_a_key_fetch_for_an_allowed_origin(stack, canary,
                                                       fed_path):
    """The control: an origin not blocked gets as far as a key fetch,
    which the canary sees; its signature cannot be checked (401)."""
    before = canary.connections
    r = get(stack, fed_path, headers=signed(stack, "OTHER.test", fed_path))
    assert_matrix_error(r, 401, "M_UNAUTHORIZED")
    assert canary.connections > before
