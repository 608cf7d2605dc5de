"""auth = homeserver: access tokens checked by the homeserver's whoami.

A small fake homeserver runs on loopback (webfixture.JsonServer). It
answers GET /_matrix/client/v3/account/whoami for the tokens it knows,
401 M_UNKNOWN_TOKEN (with or without soft_logout) for the others, and can
be switched to answering 5xx, hanging past the timeout, or being down (its
port closed). It counts the requests per token, so the tests can tell a
cached answer from a fresh one. The stack runs with short cache TTLs so
expiry can be watched.

The admin token that tools/mediarepo-run prints (mr_...) is accepted by the
fake homeserver too, so the stack's own start-up check passes.

Appservice tokens (hs.appservices) may add ?user_id= to whoami: those
allowed to masquerade get that user back, the others 403 M_FORBIDDEN, as
Synapse answers; whoami requests are counted per (token, user_id) too.
"""
import hashlib
import os
import sqlite3
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import Stack
from webfixture import JsonServer

WHOAMI = "/_matrix/client/v3/account/whoami"
CACHE_TTL = 3.0         # homeserver_auth_cache_ttl
NEGATIVE_TTL = 2.0      # homeserver_auth_negative_ttl
TIMEOUT = 1.0           # homeserver_auth_timeout
HS_NAME = "hs.test"


class FakeHomeserver:
    """whoami for known tokens; mode is 'ok', '5xx', 'hang' or down."""

    def __init__(self):
        self.users = {}         # token -> (user_id, is_guest)
        self.soft = set()       # refused with soft_logout: true
        self.mode = "ok"
        self.counts = {}        # token -> whoami requests seen
        self.appservices = {}   # token -> may masquerade (True/False)
        self.as_counts = {}     # (token, user_id) -> whoami requests
        self.bad_requests = []  # anything not a well-formed whoami
        self.lock = threading.Lock()
        self.web = JsonServer(self._answer)
        self.url = self.web.url

    def count(self, token):
        with self.lock:
            return self.counts.get(token, 0)

    def _answer(self, req):
        auth = req.headers.get("Authorization", "")
        path, _, query = req.path.partition("?")
        as_user = urllib.parse.parse_qs(query).get("user_id")
        if path != WHOAMI or not auth.startswith("Bearer ") or \
                (query and as_user is None):
            with self.lock:
                self.bad_requests.append((req.path, auth))
            return 400, {"errcode": "M_UNRECOGNIZED"}
        token = auth[len("Bearer "):]
        with self.lock:
            self.counts[token] = self.counts.get(token, 0) + 1
            mode = self.mode
            user = self.users.get(token)
            soft = token in self.soft
            masquerade = self.appservices.get(token)
            if as_user is not None:
                key = (token, as_user[0])
                self.as_counts[key] = self.as_counts.get(key, 0) + 1
        if masquerade is not None and as_user is not None:
            if not masquerade:
                return 403, {"errcode": "M_FORBIDDEN",
                             "error": "Application service cannot "
                                      "masquerade as this user"}
            return 200, {"user_id": as_user[0]}
        if mode == "5xx":
            return 500, {"errcode": "M_UNKNOWN", "error": "internal error"}
        if mode == "hang":
            time.sleep(TIMEOUT + 2)
            return 200, {"user_id": "@late:" + HS_NAME}
        if user is None and token.startswith("mr_"):
            user = ("@admin:" + HS_NAME, False)
        if user is not None:
            body = {"user_id": user[0], "device_id": "DEV"}
            if user[1]:
                body["is_guest"] = True
            return 200, body
        body = {"errcode": "M_UNKNOWN_TOKEN",
                "error": "Unknown access token"}
        if soft:
            body["soft_logout"] = True
        return 401, body

    def start(self):
        self.web.start()

    def stop(self):
        """Closes the port: connections are refused until start()."""
        self.web.stop()


@pytest.fixture(scope="module")
def hs():
    fake = FakeHomeserver()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def hstack(hs, tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("hsauth"), [
        "auth = homeserver",
        "homeserver_url = " + hs.url,
        "homeserver_auth_cache_ttl = %dms" % (CACHE_TTL * 1000),
        "homeserver_auth_negative_ttl = %dms" % (NEGATIVE_TTL * 1000),
        "homeserver_auth_timeout = %dms" % (TIMEOUT * 1000),
    ])
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def hs_ok(hs):
    """Each test starts with the homeserver up and answering."""
    hs.start()
    hs.mode = "ok"
    yield
    hs.start()
    hs.mode = "ok"
    assert hs.bad_requests == []


_n = [0]


def new_token(hs, user=None, guest=False, soft=False):
    """A token the fake homeserver knows (user given) or refuses."""
    _n[0] += 1
    token = "tok_%d_%s" % (_n[0], os.urandom(6).hex())
    with hs.lock:
        if user is not None:
            hs.users[token] = ("@%s:%s" % (user, HS_NAME), guest)
        if soft:
            hs.soft.add(token)
    return token


def get_config(s, token):
    return requests.get(s.url("/_matrix/client/v1/media/config"),
                        headers=s.auth(token), timeout=10)


def upload(s, token, data=b"hello", content_type="text/plain"):
    return requests.post(s.url("/_matrix/media/v3/upload"), data=data,
                         headers=dict(s.auth(token),
                                      **{"Content-Type": content_type}),
                         timeout=10)


def download(s, media_id, token=None, prefix="/_matrix/client/v1/media"):
    headers = s.auth(token) if token else {}
    return requests.get(s.url("%s/download/%s/%s" % (prefix, s.server_name,
                                                       media_id)),
                        headers=headers, timeout=10)


def test_good_token_is_asked_once_then_cached(hs, hstack):
    token = new_token(hs, "alice")
    r = upload(hstack, token, b"from alice")
    assert r.status_code == 200, r.text
    media_id = r.json()["content_uri"].rsplit("/", 1)[1]
    assert hs.count(token) == 1
    # Other programs (download, config) share the cache in SQLite.
    r = download(hstack, media_id, token)
    assert r.status_code == 200, r.text
    assert r.content == b"from alice"
    assert get_config(hstack, token).status_code == 200
    assert upload(hstack, token).status_code == 200
    assert hs.count(token) == 1


def test_uploader_is_the_homeservers_user(hs, hstack):
    """Async uploads check the creator: the user id came from whoami."""
    alice, bob = new_token(hs, "alice2"), new_token(hs, "bob2")
    r = requests.post(hstack.url("/_matrix/media/v1/create"),
                      headers=hstack.auth(alice), timeout=10)
    assert r.status_code == 200, r.text
    media_id = r.json()["content_uri"].rsplit("/", 1)[1]
    put = hstack.url("/_matrix/media/v3/upload/%s/%s" % (hstack.server_name,
                                                        media_id))
    r = requests.put(put, data=b"x", headers=hstack.auth(bob), timeout=10)
    assert r.status_code == 403, r.text
    r = requests.put(put, data=b"x", headers=hstack.auth(alice), timeout=10)
    assert r.status_code == 200, r.text


def test_cache_is_keyed_by_hash_not_token(hs, hstack):
    token = new_token(hs, "carol")
    assert get_config(hstack, token).status_code == 200
    db = os.path.join(hstack.data_dir, "mediarepo.db")
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT token_hash, user_id, is_guest FROM "
                           "homeserver_auth_cache").fetchall()
    finally:
        con.close()
    want = hashlib.sha256(token.encode()).hexdigest()
    assert (want, "@carol:" + HS_NAME, 0) in rows
    assert all(token not in str(row) for row in rows)
    for name in os.listdir(hstack.data_dir):
        if name.startswith("mediarepo.db"):
            with open(os.path.join(hstack.data_dir, name), "rb") as f:
                assert token.encode() not in f.read()


def test_guest_flag_is_honoured(hs, hstack):
    member = new_token(hs, "member")
    media_id = upload(hstack, member, b"for guests").json()[
        "content_uri"].rsplit("/", 1)[1]
    guest = new_token(hs, "guest", guest=True)
    r = get_config(hstack, guest)
    assert r.status_code == 403
    assert r.json()["errcode"] == "M_GUEST_ACCESS_FORBIDDEN"
    r = upload(hstack, guest)
    assert r.status_code == 403
    assert r.json()["errcode"] == "M_GUEST_ACCESS_FORBIDDEN"
    # Guests may download on the authenticated route (Matrix 1.12).
    r = download(hstack, media_id, guest)
    assert r.status_code == 200
    assert r.content == b"for guests"
    assert hs.count(guest) == 1


def test_unknown_token_is_401_and_negatively_cached(hs, hstack):
    token = new_token(hs)
    for _ in range(3):
        r = get_config(hstack, token)
        assert r.status_code == 401
        body = r.json()
        assert body["errcode"] == "M_UNKNOWN_TOKEN"
        assert "soft_logout" not in body
    r = upload(hstack, token)
    assert r.status_code == 401
    assert r.json()["errcode"] == "M_UNKNOWN_TOKEN"
    assert hs.count(token) == 1


def test_soft_logout_is_passed_through(hs, hstack):
    token = new_token(hs, soft=True)
    for _ in range(2):       # asked, then from the cache
        r = get_config(hstack, token)
        assert r.status_code == 401
        assert r.json()["errcode"] == "M_UNKNOWN_TOKEN"
        assert r.json()["soft_logout"] is True
    r = upload(hstack, token)
    assert r.status_code == 401
    assert r.json()["soft_logout"] is True
    assert hs.count(token) == 1


def test_missing_token_never_reaches_the_homeserver(hs, hstack):
    before = sum(hs.counts.values())
    r = requests.get(hstack.url("/_matrix/client/v1/media/config"),
                     timeout=10)
    assert r.status_code == 401
    assert r.json()["errcode"] == "M_MISSING_TOKEN"
    # A token no HTTP header could carry is refused without asking.
    for bad in ("a b", "caf\u00e9"):
        r = requests.get(hstack.url("/_matrix/media/v3/config"),
                         params={"access_token": bad}, timeout=10)
        assert r.status_code == 401, r.url
        assert r.json()["errcode"] == "M_UNKNOWN_TOKEN"
    assert sum(hs.counts.values()) == before


def test_cache_expiry_asks_again(hs, hstack):
    good, bad = new_token(hs, "dave"), new_token(hs)
    assert get_config(hstack, good).status_code == 200
    assert get_config(hstack, bad).status_code == 401
    assert (hs.count(good), hs.count(bad)) == (1, 1)
    time.sleep(NEGATIVE_TTL + 0.3)
    # The refusal has expired, the acceptance not yet.
    assert get_config(hstack, good).status_code == 200
    assert get_config(hstack, bad).status_code == 401
    assert (hs.count(good), hs.count(bad)) == (1, 2)
    # The homeserver logs dave out: refused once the acceptance expires.
    with hs.lock:
        del hs.users[good]
    assert get_config(hstack, good).status_code == 200
    time.sleep(CACHE_TTL - NEGATIVE_TTL)
    r = get_config(hstack, good)
    assert r.status_code == 401
    assert r.json()["errcode"] == "M_UNKNOWN_TOKEN"
    assert hs.count(good) == 2


def test_homeserver_5xx_is_503_not_401_and_not_cached(hs, hstack):
    token = new_token(hs, "erin")
    hs.mode = "5xx"
    for call in (lambda: get_config(hstack, token),
                 lambda: upload(hstack, token),
                 lambda: download(hstack, "abc", token)):
        r = call()
        assert r.status_code in (502, 503), r.text
        assert r.json()["errcode"] != "M_UNKNOWN_TOKEN"
    assert hs.count(token) == 3
    hs.mode = "ok"
    assert get_config(hstack, token).status_code == 200
    assert hs.count(token) == 4


def test_homeserver_down_is_502_not_401(hs, hstack):
    token = new_token(hs, "frank")
    hs.stop()
    r = get_config(hstack, token)
    assert r.status_code in (502, 503), r.text
    assert r.json()["errcode"] != "M_UNKNOWN_TOKEN"
    assert "soft_logout" not in r.json()
    r = upload(hstack, token)
    assert r.status_code in (502, 503), r.text
    # A token cached before the outage keeps working for its TTL.
    hs.start()
    cached = new_token(hs, "grace")
    assert get_config(hstack, cached).status_code == 200
    hs.stop()
    assert get_config(hstack, cached).status_code == 200
    hs.start()
    assert get_config(hstack, token).status_code == 200
    assert hs.count(token) == 1


def test_homeserver_timeout_is_bounded(hs, hstack):
    token = new_token(hs, "heidi")
    hs.mode = "hang"
    t0 = time.monotonic()
    r = get_config(hstack, token)
    took = time.monotonic() - t0
    assert r.status_code == 503, r.text
    assert r.json()["errcode"] != "M_UNKNOWN_TOKEN"
    assert took < TIMEOUT + 1.5, took
    hs.mode = "ok"
    assert get_config(hstack, token).status_code == 200


def test_public_routes_need_no_homeserver(hs, hstack):
    media_id = upload(hstack, new_token(hs, "ivan"), b"public").json()[
        "content_uri"].rsplit("/", 1)[1]
    hs.stop()
    r = download(hstack, media_id, prefix="/_matrix/media/v3")
    assert r.status_code == 200
    assert r.content == b"public"


def media_owner(s, media_id):
    con = sqlite3.connect(os.path.join(s.data_dir, "mediarepo.db"))
    try:
        row = con.execute("SELECT user_id FROM media WHERE media_id = ?",
                          (media_id,)).fetchone()
    finally:
        con.close()
    return row[0] if row else None


def upload_as(s, token, user_id, data=b"bridged"):
    return requests.post(s.url("/_matrix/media/v3/upload"),
                         params={"user_id": user_id}, data=data,
                         headers=dict(s.auth(token),
                                      **{"Content-Type": "text/plain"}),
                         timeout=10)


def test_appservice_uploads_belong_to_the_user_it_acts_for(hs, hstack):
    bot = new_token(hs, "bridgebot")
    with hs.lock:
        hs.appservices[bot] = True
    ghost = "@bridge_ghost:" + HS_NAME
    r = upload_as(hstack, bot, ghost)
    assert r.status_code == 200, r.text
    media_id = r.json()["content_uri"].rsplit("/", 1)[1]
    assert media_owner(hstack, media_id) == ghost
    # The request log names the user acted for.
    line, = [ln for ln in hstack.read_log().splitlines()
             if r.headers["X-Request-Id"] in ln]
    assert " user=%s" % ghost in line
    # Cached per (token, user_id): asked once for the ghost...
    assert hs.as_counts[(bot, ghost)] == 1
    assert upload_as(hstack, bot, ghost).status_code == 200
    assert hs.as_counts[(bot, ghost)] == 1
    # ...and apart from the bot itself and from another ghost.
    r = upload(hstack, bot, b"the bot's own")
    assert r.status_code == 200, r.text
    assert media_owner(hstack, r.json()["content_uri"].rsplit("/", 1)[1]) \
        == "@bridgebot:" + HS_NAME
    other = "@bridge_other:" + HS_NAME
    r = upload_as(hstack, bot, other)
    assert r.status_code == 200, r.text
    assert media_owner(hstack, r.json()["content_uri"].rsplit("/", 1)[1]) \
        == other
    assert hs.as_counts[(bot, other)] == 1
    assert hs.count(bot) == 3


def test_appservice_without_the_right_is_refused(hs, hstack):
    bot = new_token(hs, "otherbot")
    with hs.lock:
        hs.appservices[bot] = False
    ghost = "@not_mine:" + HS_NAME
    r = upload_as(hstack, bot, ghost)
    assert r.status_code == 403, r.text
    assert r.json()["errcode"] == "M_FORBIDDEN"
    assert hs.as_counts[(bot, ghost)] == 1
    # The refusal is cached like any other.
    assert upload_as(hstack, bot, ghost).status_code == 403
    assert hs.as_counts[(bot, ghost)] == 1
    # Not a user id at all: refused here, the homeserver never asked.
    r = upload_as(hstack, bot, "not_a_user")
    assert r.status_code == 400 and r.json()["errcode"] == "M_INVALID_PARAM"
    assert (bot, "not_a_user") not in hs.as_counts
