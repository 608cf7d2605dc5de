"""Synapse's media admin API, served by admin.fcgi, as moderators' tools
call it.

The calls are those of Mjolnir (src/Mjolnir.ts: POST
media/{server}/{id}/quarantine, GET users/{id}/media?before_ts=, reading
media_id and media_origin) and synapse-admin (src/synapse/dataProvider.ts:
users/{id}/media with from/limit/order_by/dir reading media and total,
media/protect|unprotect/{id}, media/quarantine|unquarantine/{home_server}/
{id}, DELETE media/{home_server}/{id}, POST media/{home_server}/delete?
before_ts=&size_gt=&keep_profiles=, purge_media_cache?before_ts=,
statistics/users/media reading users and total, DELETE users/{id}/media),
plus the room quarantine Synapse documents.

A loopback homeserver (webfixture.JsonServer on 127.0.0.1, started and
stopped by the module) answers whoami, the is-admin question and a room's media list. The
stack runs with auth = homeserver, so its admins are the homeserver's
(@hsadmin) and the config's admin_users (@cfgadmin).
"""
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import ADMIN, STORE, Stack
from webfixture import JsonServer

HS = "hs.test"
A = "/_synapse/admin/v1"
V3 = "/_matrix/media/v3"
V1 = "/_matrix/client/v1/media"


class FakeHomeserver:
    """whoami, GET users/{id}/admin and GET room/{id}/media."""

    def __init__(self):
        self.tokens = {}        # token -> user id
        self.admins = set()     # user ids the homeserver says are admins
        self.rooms = {}         # room id -> {"local": [...], "remote": [...]}
        self.asked = []         # (path, user) of every request
        self.lock = threading.Lock()
        self.web = JsonServer(self._answer)
        self.url = self.web.url

    def _answer(self, req):
        auth = req.headers.get("Authorization", "")
        token = auth[len("Bearer "):]
        with self.lock:
            user = self.tokens.get(token)
            if user is None and token.startswith("mr_"):
                user = "@starter:" + HS      # mediarepo-run's token
            self.asked.append((req.path, user))
            is_admin = user in self.admins
        if user is None:
            return 401, {"errcode": "M_UNKNOWN_TOKEN",
                         "error": "Unknown token"}
        path = urllib.parse.unquote(req.path)
        if path == "/_matrix/client/v3/account/whoami":
            return 200, {"user_id": user}
        # Synapse asks the requester to be an admin for both.
        if not is_admin:
            return 403, {"errcode": "M_FORBIDDEN",
                         "error": "You are not a server admin"}
        m = re.fullmatch(A + r"/users/([^/]+)/admin", path)
        if m:
            return 200, {"admin": m.group(1) in self.admins}
        m = re.fullmatch(A + r"/room/([^/]+)/media", path)
        if m:
            return 200, self.rooms.get(m.group(1),
                                       {"local": [], "remote": []})
        return 404, {"errcode": "M_UNRECOGNIZED"}

    def user(self, name, admin=False, fixed=False):
        """A token and its user; the name gets a unique tail unless fixed
        (with several web servers in one run, one stack may serve them
        all)."""
        token = "tok_%s_%s" % (name, os.urandom(6).hex())
        uid = "@%s%s:%s" % (name, "" if fixed else os.urandom(3).hex(), HS)
        with self.lock:
            self.tokens[token] = uid
            if admin:
                self.admins.add(uid)
        return token, uid

    def stop(self):
        self.web.stop()


@pytest.fixture(scope="module")
def hs():
    fake = FakeHomeserver()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def s(hs, tmp_path_factory):
    st = Stack(tmp_path_factory.mktemp("synadmin"), [
        "auth = homeserver",
        "homeserver_url = " + hs.url,
        "admin_users = @cfgadmin:" + HS,
        # Short, so a test can watch an admin's answer being asked again.
        "homeserver_auth_cache_ttl = 2s",
        "homeserver_auth_negative_ttl = 1s",
    ], server_name=HS)
    yield st
    st.stop()


@pytest.fixture(scope="module")
def who(hs):
    """Tokens: the homeserver's admin, the config's admin, a user."""
    return {
        "hsadmin": hs.user("hsadmin", admin=True, fixed=True),
        "cfgadmin": hs.user("cfgadmin", fixed=True),
        "alice": hs.user("alice"),
        "bob": hs.user("bob"),
    }


_n = [0]


def unique(tag=b"m"):
    _n[0] += 1
    return tag + b"#%d-%d-%d" % (os.getpid(), _n[0], time.time_ns())


def sha(data):
    return hashlib.sha256(data).hexdigest()


def H(token):
    return {"Authorization": "Bearer " + token}


def upload(s, token, data=None, name=None, ctype="text/plain"):
    data = data if data is not None else unique()
    params = {"filename": name} if name else None
    r = requests.post(s.url(V3 + "/upload"), data=data, params=params,
                      headers=dict(H(token), **{"Content-Type": ctype}),
                      timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["content_uri"].rsplit("/", 1)[1]


def call(s, method, path, token=None, **kw):
    headers = H(token) if token else {}
    return requests.request(method, s.url(A + path), headers=headers,
                            timeout=20, **kw)


def ok(r):
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def err(r, status, errcode):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["errcode"] == errcode, r.text


def dl(s, mid, server=HS, token=None, bypass=False, prefix=V3):
    q = "?admin_unsafely_bypass_quarantine=true" if bypass else ""
    return requests.get(s.url("%s/download/%s/%s%s" % (prefix, server, mid,
                                                        q)),
                        headers=H(token) if token else {}, timeout=10)


def db(s):
    path = s.admin("config-get", "database_path").stdout.strip()
    conn = sqlite3.connect(path, timeout=10)
    conn.isolation_level = None
    return conn


def sql(s, query, args=()):
    """query (with ? for each of args) on the stack's store: its SQLite
    file, or under MR_STORE=pg its PostgreSQL database; the rows."""
    if STORE == "pg":
        return pg_sql(s, query, args)
    conn = db(s)
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def pg_sql(s, query, args):
    """sql() through psql: the arguments go in as quoted literals (numbers
    and strings only), the values come back as ints where they are."""
    def literal(v):
        if isinstance(v, int):
            return str(v)
        return "'" + str(v).replace("'", "''") + "'"

    parts = query.split("?")
    assert len(parts) == len(args) + 1, query
    text = parts[0] + "".join(literal(v) + rest
                              for v, rest in zip(args, parts[1:]))
    url = s.admin("config-get", "database_url").stdout.strip()
    out = subprocess.run(["psql", "-qAt", "-F", "\x1f", "-v",
                          "ON_ERROR_STOP=1", url, "-c", text],
                         check=True, capture_output=True, text=True).stdout
    return [tuple(int(f) if re.fullmatch(r"-?\d+", f) else f
                  for f in line.split("\x1f"))
            for line in out.splitlines()]


def plant_remote(s, server, mid, data, age_ms=0):
    """A cached remote media row with its file (as a fetch leaves it)."""
    h = sha(data)
    root = s.admin("config-get", "media_store_path").stdout.strip()
    d = os.path.join(root, h[:2], h[2:4])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, h), "wb") as f:
        f.write(data)
    sql(s, "INSERT INTO media (server_name, media_id, sha256, size, "
        "content_type, created_ts) VALUES (?, ?, ?, ?, 'text/plain', ?)",
        (server, mid, h, len(data), int(time.time() * 1000) - age_ms))
    s.give_back()


def info(s, token, mid, server=HS):
    return ok(call(s, "GET", "/media/%s/%s" % (server, mid), token))[
        "media_info"]


# --- who may call ------------------------------------------------------------

CALLS = [
    ("GET", "/media/%s/x" % HS), ("DELETE", "/media/%s/x" % HS),
    ("POST", "/media/quarantine/%s/x" % HS),
    ("POST", "/media/unquarantine/%s/x" % HS),
    ("POST", "/media/protect/x"), ("POST", "/media/unprotect/x"),
    ("POST", "/user/@alice:%s/media/quarantine" % HS),
    ("POST", "/room/!r:%s/media/quarantine" % HS),
    ("POST", "/quarantine_media/!r:%s" % HS),
    ("GET", "/users/@alice:%s/media" % HS),
    ("DELETE", "/users/@alice:%s/media" % HS),
    ("POST", "/media/delete?before_ts=1700000000000"),
    ("POST", "/media/%s/delete?before_ts=1700000000000" % HS),
    ("POST", "/purge_media_cache?before_ts=1700000000000"),
    ("GET", "/statistics/users/media"),
    ("POST", "/media/%s/x/quarantine" % HS),
]


@pytest.mark.parametrize("method,path", CALLS)
def test_no_token_is_401_and_a_user_403(s, who, method, path):
    err(call(s, method, path), 401, "M_MISSING_TOKEN")
    err(call(s, method, path, "no-such-token"), 401, "M_UNKNOWN_TOKEN")
    err(call(s, method, path, who["alice"][0]), 403, "M_FORBIDDEN")


def test_admins_are_the_homeservers_and_the_configs(s, hs, who):
    for name in ("hsadmin", "cfgadmin"):
        body = ok(call(s, "GET", "/statistics/users/media", who[name][0]))
        assert "users" in body and "total" in body
    # The homeserver was asked about @hsadmin with its own token, once
    # while the answer is cached; never about the config's admin.
    asked = [p for p, u in hs.asked if p.endswith("/admin")]
    assert any("hsadmin" in p for p in asked)
    assert not any("cfgadmin" in p for p in asked)
    n = len(asked)
    ok(call(s, "GET", "/statistics/users/media", who["hsadmin"][0]))
    assert len([p for p, u in hs.asked if p.endswith("/admin")]) == n


# --- media info, quarantine, protection, bypass -------------------------------

def test_media_info_has_synapses_fields(s, who):
    tok = who["alice"][0]
    data = unique(b"info")
    mid = upload(s, tok, data, name="cat.txt")
    mi = info(s, who["hsadmin"][0], mid)
    assert set(mi) >= {"media_origin", "user_id", "media_id", "media_type",
                       "media_length", "upload_name", "created_ts",
                       "last_access_ts", "quarantined_by", "authenticated",
                       "safe_from_quarantine", "sha256"}
    assert mi["media_origin"] is None and mi["user_id"] == who["alice"][1]
    assert mi["media_id"] == mid and mi["media_type"] == "text/plain"
    assert mi["media_length"] == len(data) and mi["upload_name"] == "cat.txt"
    assert mi["quarantined_by"] is None and mi["safe_from_quarantine"] is False
    assert mi["sha256"] == sha(data) and mi["authenticated"] is False
    assert mi["last_access_ts"] is None
    assert dl(s, mid).status_code == 200
    assert info(s, who["hsadmin"][0], mid)["last_access_ts"] > 0
    rdata = unique(b"remote info")
    plant_remote(s, "far.test", "RemoteInfo%d" % _n[0], rdata)
    mi = info(s, who["hsadmin"][0], "RemoteInfo%d" % _n[0], "far.test")
    assert mi["media_origin"] == "far.test" and mi["user_id"] is None
    assert mi["safe_from_quarantine"] is None
    err(call(s, "GET", "/media/%s/NoSuchMedia" % HS, who["hsadmin"][0]),
        404, "M_NOT_FOUND")
    err(call(s, "GET", "/media/bad..name/x", who["hsadmin"][0]), 400,
        "M_INVALID_PARAM")


def test_last_access_is_written_at_most_hourly(s, who):
    mid = upload(s, who["alice"][0])
    hour = 3600 * 1000
    half = int(time.time() * 1000) - hour // 2
    sql(s, "UPDATE media SET last_access_ts = ? WHERE media_id = ?",
        (half, mid))
    assert dl(s, mid).status_code == 200
    assert sql(s, "SELECT last_access_ts FROM media WHERE media_id = ?",
               (mid,))[0][0] == half
    sql(s, "UPDATE media SET last_access_ts = ? WHERE media_id = ?",
        (half - hour, mid))
    r = requests.get(s.url("%s/thumbnail/%s/%s?width=32&height=32" % (
        V3, HS, mid)), timeout=10)
    assert r.status_code in (200, 400), r.text
    assert sql(s, "SELECT last_access_ts FROM media WHERE media_id = ?",
               (mid,))[0][0] > half


def test_quarantine_by_id_as_synapse_admin_does(s, who):
    """synapse-admin: POST media/quarantine/{home_server}/{id}, no body,
    then unquarantine; the same bytes elsewhere go with it."""
    adm, admin_id = who["hsadmin"]
    data = unique(b"shared bytes")
    mid = upload(s, who["alice"][0], data)
    copy = upload(s, who["bob"][0], data)
    assert ok(call(s, "POST", "/media/quarantine/%s/%s" % (HS, mid),
                   adm)) == {}
    for m in (mid, copy):
        err(dl(s, m), 404, "M_NOT_FOUND")
    assert info(s, adm, mid)["quarantined_by"] == admin_id
    assert info(s, adm, copy)["quarantined_by"] == admin_id
    # Bypass: admins get it, a user and nobody still 404.
    r = dl(s, mid, token=adm, bypass=True)
    assert r.status_code == 200 and r.content == data
    r = dl(s, mid, token=adm, bypass=True, prefix=V1)
    assert r.status_code == 200 and r.content == data
    err(dl(s, mid, token=who["alice"][0], bypass=True), 404, "M_NOT_FOUND")
    err(dl(s, mid, bypass=True), 404, "M_NOT_FOUND")
    err(dl(s, mid, token=adm), 404, "M_NOT_FOUND")
    r = requests.get(s.url("%s/thumbnail/%s/%s?width=32&height=32&"
                           "admin_unsafely_bypass_quarantine=true" % (
                               V1, HS, mid)), headers=H(adm), timeout=10)
    assert r.status_code != 404, r.text
    # Re-uploads of quarantined bytes are refused.
    r = requests.post(s.url(V3 + "/upload"), data=data, timeout=10,
                      headers=dict(H(who["bob"][0]),
                                   **{"Content-Type": "text/plain"}))
    err(r, 403, "M_FORBIDDEN")
    assert ok(call(s, "POST", "/media/unquarantine/%s/%s" % (HS, mid),
                   adm)) == {}
    for m in (mid, copy):
        assert dl(s, m).status_code == 200
    assert info(s, adm, mid)["quarantined_by"] is None
    # Unknown media: Synapse's {} (Mjolnir loops over what it saw).
    assert ok(call(s, "POST", "/media/quarantine/%s/NoSuch" % HS, adm)) == {}
    log = s.read_log()
    assert re.search(r"admin %s quarantine mxc://%s/%s count=2" % (
        re.escape(admin_id), re.escape(HS), mid), log), log[-2000:]


def test_protected_media_is_skipped_by_user_and_room_quarantine(s, hs, who):
    adm = who["hsadmin"][0]
    tok, uid = hs.user("carol")
    safe, other = upload(s, tok), upload(s, tok)
    assert ok(call(s, "POST", "/media/protect/" + safe, adm)) == {}
    assert info(s, adm, safe)["safe_from_quarantine"] is True
    body = ok(call(s, "POST", "/user/%s/media/quarantine" % uid, adm))
    assert body == {"num_quarantined": 1}
    assert dl(s, safe).status_code == 200
    err(dl(s, other), 404, "M_NOT_FOUND")
    room = "!protected:" + HS
    hs.rooms[room] = {"local": ["mxc://%s/%s" % (HS, safe)], "remote": []}
    assert ok(call(s, "POST", "/room/%s/media/quarantine" % room,
                   adm)) == {"num_quarantined": 0}
    assert dl(s, safe).status_code == 200
    assert ok(call(s, "POST", "/media/unprotect/" + safe, adm)) == {}
    assert ok(call(s, "POST", "/room/%s/media/quarantine" % room,
                   adm)) == {"num_quarantined": 1}
    err(dl(s, safe), 404, "M_NOT_FOUND")
    err(call(s, "POST", "/media/protect/NoSuchMedia", adm), 404,
        "M_NOT_FOUND")


def test_room_quarantine_lists_through_the_homeserver(s, hs, who):
    adm = who["hsadmin"][0]
    local = upload(s, who["alice"][0])
    rmid = "RoomRemote%d" % _n[0]
    plant_remote(s, "far.test", rmid, unique(b"room remote"))
    room = "!room%d:%s" % (_n[0], HS)
    hs.rooms[room] = {"local": ["mxc://%s/%s" % (HS, local)],
                      "remote": ["mxc://far.test/" + rmid, "not an mxc"]}
    # The legacy path, with the room id encoded as clients send it.
    body = ok(call(s, "POST", "/quarantine_media/" +
                   urllib.parse.quote(room, safe=""), adm, data="{}"))
    assert body == {"num_quarantined": 2}
    err(dl(s, local), 404, "M_NOT_FOUND")
    err(dl(s, rmid, server="far.test"), 404, "M_NOT_FOUND")
    # The homeserver asked with the admin's own token.
    assert (A + "/room/%s/media" % urllib.parse.quote(room, safe=""),
            who["hsadmin"][1]) in hs.asked
    # An admin of ours whom the homeserver refuses cannot list rooms.
    err(call(s, "POST", "/room/%s/media/quarantine" % room,
             who["cfgadmin"][0]), 403, "M_FORBIDDEN")


# --- lists and statistics -----------------------------------------------------

def test_user_media_pages_as_synapse_admin_asks(s, hs, who):
    adm = who["hsadmin"][0]
    tok, uid = hs.user("pager")
    mids = []
    for i in range(5):
        mids.append(upload(s, tok, unique(b"p" * (i + 1)), name="f%d" % i))
        time.sleep(0.002)
    path = "/users/%s/media" % urllib.parse.quote(uid, safe="")
    body = ok(call(s, "GET", path + "?from=0&limit=2&order_by=created_ts"
                   "&dir=b", adm))
    assert body["total"] == 5 and body["next_token"] == 2
    assert [m["media_id"] for m in body["media"]] == mids[::-1][:2]
    item = body["media"][0]
    assert set(item) >= {"created_ts", "last_access_ts", "media_id",
                         "media_length", "media_type", "quarantined_by",
                         "safe_from_quarantine", "upload_name"}
    body = ok(call(s, "GET", path + "?from=4&limit=2", adm))
    assert "next_token" not in body and len(body["media"]) == 1
    assert body["media"][0]["media_id"] == mids[0]      # newest first
    body = ok(call(s, "GET", path + "?order_by=media_length&dir=b", adm))
    assert [m["media_id"] for m in body["media"]] == mids[::-1]
    body = ok(call(s, "GET", path + "?order_by=upload_name", adm))
    assert [m["upload_name"] for m in body["media"]] == \
        ["f%d" % i for i in range(5)]
    for bad in ("order_by=size", "dir=x", "limit=-1", "from=abc"):
        err(call(s, "GET", path + "?" + bad, adm), 400, "M_INVALID_PARAM")
    err(call(s, "GET", "/users/@x:other.test/media", adm), 400, "M_UNKNOWN")
    err(call(s, "GET", "/users/not-a-user/media", adm), 400,
        "M_INVALID_PARAM")


def test_statistics_as_synapse_admin_asks(s, hs, who):
    adm = who["hsadmin"][0]
    tok, uid = hs.user("statzz")
    datas = [unique(b"s" * size) for size in (10, 20, 30)]
    for d in datas:
        upload(s, tok, d)
    body = ok(call(s, "GET", "/statistics/users/media?from=0&limit=10"
                   "&order_by=media_length&dir=b&search_term=" +
                   uid[1:uid.index(":")], adm))
    assert body["total"] == 1 and "next_token" not in body
    u = body["users"][0]
    assert u["user_id"] == uid and u["media_count"] == 3
    assert u["media_length"] == sum(len(d) for d in datas)
    assert set(u) == {"user_id", "displayname", "media_count",
                      "media_length"}
    body = ok(call(s, "GET", "/statistics/users/media?limit=1", adm))
    assert len(body["users"]) == 1 and body["next_token"] == 1
    users = [x["user_id"] for x in ok(call(
        s, "GET", "/statistics/users/media", adm))["users"]]
    assert users == sorted(users)
    for bad in ("order_by=bogus", "search_term=", "from_ts=5&until_ts=4",
                "dir=up"):
        err(call(s, "GET", "/statistics/users/media?" + bad, adm), 400,
            "M_INVALID_PARAM")


# --- Mjolnir ------------------------------------------------------------------

def test_mjolnir_quarantines_a_users_media(s, hs, who):
    """Mjolnir's quarantineMediaForUser: GET users/{id}/media?before_ts=
    (the id unencoded), then POST media/{media_origin}/{id}/quarantine for
    each; and its quarantine of one mxc."""
    adm = who["hsadmin"][0]
    tok, uid = hs.user("spammer")
    mids = [upload(s, tok) for _ in range(2)]
    data = ok(call(s, "GET", "/users/%s/media" % uid, adm,
                   params={"before_ts": int(time.time() * 1000)}))
    ids = [m["media_id"] for m in data["media"] if not m.get("quarantined")]
    assert sorted(ids) == sorted(mids)
    for mid in ids:
        assert ok(call(s, "POST", "/media/%s/%s/quarantine" % (
            data["media_origin"], mid), adm)) == {}
    for mid in mids:
        err(dl(s, mid), 404, "M_NOT_FOUND")
    tok2, uid2 = hs.user("spammer2")
    m2 = upload(s, tok2)
    assert ok(call(s, "POST", "/user/%s/media/quarantine" % uid2,
                   adm)) == {"num_quarantined": 1}
    err(dl(s, m2), 404, "M_NOT_FOUND")


# --- deletes and purges -------------------------------------------------------

def test_deletes_as_synapse_admin_does(s, hs, who):
    adm = who["hsadmin"][0]
    tok, uid = hs.user("deleter")
    a, b, c = (upload(s, tok) for _ in range(3))
    body = ok(call(s, "DELETE", "/media/%s/%s" % (HS, a), adm))
    assert body == {"deleted_media": [a], "total": 1}
    err(dl(s, a), 404, "M_NOT_FOUND")
    err(call(s, "DELETE", "/media/%s/%s" % (HS, a), adm), 404, "M_NOT_FOUND")
    err(call(s, "DELETE", "/media/far.test/x", adm), 400, "M_UNKNOWN")
    body = ok(call(s, "DELETE", "/users/%s/media" % urllib.parse.quote(
        uid, safe=""), adm))
    assert sorted(body["deleted_media"]) == sorted([b, c])
    assert body["total"] == 2
    # By date: old, large enough, not quarantined or protected.
    tok, uid = hs.user("ager")
    old, small, kept, q, new = (upload(s, tok, unique(b"x" * n))
                                for n in (100, 1, 100, 100, 100))
    day = 86400 * 1000
    past = int(time.time() * 1000) - 10 * day
    for m in (old, small, kept, q):
        sql(s, "UPDATE media SET last_access_ts = ? WHERE media_id = ?",
            (past, m))
    ok(call(s, "POST", "/media/protect/" + kept, adm))
    ok(call(s, "POST", "/media/quarantine/%s/%s" % (HS, q), adm))
    before = int(time.time() * 1000) - day
    body = ok(call(s, "POST", "/media/%s/delete?before_ts=%d&size_gt=50&"
                   "keep_profiles=true" % (HS, before), adm))
    assert body == {"deleted_media": [old], "total": 1}
    body = ok(call(s, "POST", "/media/delete?before_ts=%d" % before, adm))
    assert small in body["deleted_media"]
    for m in (kept, new):
        assert dl(s, m).status_code == 200
    err(call(s, "POST", "/media/delete?before_ts=1600000000", adm), 400,
        "M_INVALID_PARAM")
    err(call(s, "POST", "/media/delete", adm), 400, "M_MISSING_PARAM")
    err(call(s, "POST", "/media/other.test/delete?before_ts=%d" % before,
             adm), 400, "M_UNKNOWN")
    err(call(s, "POST", "/media/delete?before_ts=%d&keep_profiles=yes" %
             before, adm), 400, "M_INVALID_PARAM")


def test_purge_media_cache_by_last_access(s, who):
    adm = who["hsadmin"][0]
    day = 86400 * 1000
    old, recent, quar = ("Cache%s%d" % (k, _n[0]) for k in "ORQ")
    plant_remote(s, "cache.test", old, unique(b"old"), 5 * day)
    plant_remote(s, "cache.test", recent, unique(b"recent"), 5 * day)
    plant_remote(s, "cache.test", quar, unique(b"quar"), 5 * day)
    sql(s, "UPDATE media SET last_access_ts = ? WHERE media_id = ?",
        (int(time.time() * 1000), recent))
    ok(call(s, "POST", "/media/quarantine/cache.test/" + quar, adm))
    before = int(time.time() * 1000) - day
    body = ok(call(s, "POST", "/purge_media_cache?before_ts=%d" % before,
                   adm))
    assert body == {"deleted": 1}
    left = {r[0] for r in sql(s, "SELECT media_id FROM media WHERE "
                                 "server_name = 'cache.test'")}
    assert old not in left and {recent, quar} <= left
    err(call(s, "POST", "/purge_media_cache?before_ts=-5", adm), 400,
        "M_INVALID_PARAM")


# --- the whole flow -----------------------------------------------------------

def test_moderation_flow(s, hs, who):
    """Quarantine a user's media, then a room's; list; unquarantine;
    delete; purge the remote cache. Every step is refused to a user."""
    adm, user = who["hsadmin"][0], who["bob"][0]
    tok, uid = hs.user("troll")
    mine = [upload(s, tok) for _ in range(2)]
    rmid = "Flow%d" % _n[0]
    plant_remote(s, "troll.test", rmid, unique(b"flow remote"), 86400 * 1000)
    room = "!flow%d:%s" % (_n[0], HS)
    hs.rooms[room] = {"local": [], "remote": ["mxc://troll.test/" + rmid]}
    steps = [
        ("POST", "/user/%s/media/quarantine" % uid),
        ("POST", "/room/%s/media/quarantine" % room),
        ("GET", "/users/%s/media" % uid),
        ("POST", "/media/unquarantine/%s/%s" % (HS, mine[0])),
        ("DELETE", "/media/%s/%s" % (HS, mine[1])),
        ("POST", "/purge_media_cache?before_ts=%d" % (
            int(time.time() * 1000) + 1000)),
    ]
    for method, path in steps:
        err(call(s, method, path, user), 403, "M_FORBIDDEN")
    assert ok(call(s, *steps[0], adm))["num_quarantined"] == 2
    assert ok(call(s, *steps[1], adm))["num_quarantined"] == 1
    listed = ok(call(s, *steps[2], adm))
    assert listed["total"] == 2
    assert all(m["quarantined_by"] == who["hsadmin"][1]
               for m in listed["media"])
    ok(call(s, *steps[3], adm))
    assert dl(s, mine[0]).status_code == 200
    assert ok(call(s, *steps[4], adm))["deleted_media"] == [mine[1]]
    # The quarantined remote media stays through the purge (Synapse
    # keeps the flag); released, it goes.
    ok(call(s, "POST", "/media/unquarantine/troll.test/" + rmid, adm))
    assert ok(call(s, *steps[5], adm))["deleted"] >= 1
    assert not sql(s, "SELECT 1 FROM media WHERE media_id = ?", (rmid,))


# --- retention ----------------------------------------------------------------

def test_purge_expired_by_last_access(s, hs, who):
    """mediarepo-admin purge-expired with the retention lifetimes set (in a
    copy of the config beside it, so the running stack is unchanged)."""
    adm = who["hsadmin"][0]
    tok, uid = hs.user("retained")
    day = 86400 * 1000
    now = int(time.time() * 1000)
    stale, fresh, safe, quar = (upload(s, tok) for _ in range(4))
    for m in (stale, safe, quar):
        sql(s, "UPDATE media SET last_access_ts = ? WHERE media_id = ?",
            (now - 40 * day, m))
    ok(call(s, "POST", "/media/protect/" + safe, adm))
    ok(call(s, "POST", "/media/quarantine/%s/%s" % (HS, quar), adm))
    rold, rnew = "RetOld%d" % _n[0], "RetNew%d" % _n[0]
    plant_remote(s, "ret.test", rold, unique(b"ret old"), 10 * day)
    plant_remote(s, "ret.test", rnew, unique(b"ret new"), day // 2)
    conf = os.path.join(s.data_dir, "retention.conf")
    shutil.copy(s.config, conf)
    with open(conf, "a") as f:
        f.write("media_retention_local_media_lifetime = 30d\n"
                "media_retention_remote_media_lifetime = 7d\n")
    env = dict(s.env, MEDIAREPO_CONFIG=conf)

    def run(*args):
        r = subprocess.run([ADMIN, *args], env=env, capture_output=True,
                           text=True)
        s.give_back()
        assert r.returncode == 0, r.stderr
        return r

    r = run("purge-expired", "--dry-run")
    assert "would delete mxc://%s/%s" % (HS, stale) in r.stdout
    assert "would delete mxc://ret.test/%s" % rold in r.stdout
    for m in (fresh, safe, quar):
        assert m not in r.stdout
    assert "purge-expired (dry run): 100%" in r.stderr
    assert dl(s, stale).status_code == 200      # nothing went
    sql(s, "UPDATE media SET last_access_ts = ? WHERE media_id = ?",
        (now - 40 * day, stale))
    r = run("purge-expired")
    assert re.search(r"local media: deleted [1-9]\d* media", r.stdout)
    assert re.search(r"remote media: deleted [1-9]\d* media", r.stdout)
    ids = {x[0] for x in sql(s, "SELECT media_id FROM media")}
    assert stale not in ids and rold not in ids
    assert {fresh, safe, quar, rnew} <= ids
    # Unset lifetimes keep everything.
    r = subprocess.run([ADMIN, "purge-expired"], env=s.env,
                       capture_output=True, text=True)
    s.give_back()
    assert "local media: kept" in r.stdout and "remote media: kept" in r.stdout
