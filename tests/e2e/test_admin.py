"""mediarepo-admin's operator commands end to end, against a running stack:
media info/list/delete, quarantine (404 on every route, 403 on re-upload),
purge-remote, purge-previews, gc, verify, stats, import-synapse, the
progress line, --help on every command and exit code 2 on bad usage.

Remote media and preview rows are planted with Python's sqlite3 straight
into the stack's database: the tool is what is being tested, and a second
stack would only slow the suite down.
"""
import hashlib
import io
import os
import pty
import re
import sqlite3
import subprocess
import time

import pytest
import requests
from PIL import Image

from conftest import ADMIN

V3 = "/_matrix/media/v3"
R0 = "/_matrix/media/r0"
V1 = "/_matrix/client/v1/media"

COMMANDS = [
    "init-config", "config-get", "create-token", "revoke-token",
    "list-tokens", "generate-key", "import-key", "show-key", "thumbnail",
    "thumbnail-all", "sweep", "media info", "media delete", "media list",
    "quarantine", "unquarantine", "purge-remote", "purge-previews", "gc",
    "verify", "stats", "import-synapse", "media protect",
    "media unprotect", "purge-expired",
]

_n = iter(range(1, 1 << 30))


def unique(data=b"admin test"):
    """Bytes no other test uploads, so no two tests share a blob."""
    return data + b"#%d-%d-%d" % (os.getpid(), next(_n), time.time_ns())


def png(w=200, h=150):
    """A PNG with unique pixels (so its thumbnails are unique too)."""
    im = Image.new("RGB", (w, h))
    seed = next(_n) * 7919 + os.getpid()
    im.putdata([((x * 7 + seed) % 256, (y * 13 + seed // 256) % 256,
                 (x * y + seed) % 256) for y in range(h) for x in range(w)])
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def store_root(stack):
    return stack.admin("config-get", "media_store_path").stdout.strip()


def db_path(stack):
    return stack.admin("config-get", "database_path").stdout.strip()


def blob_path(stack, h):
    return os.path.join(store_root(stack), h[:2], h[2:4], h)


def db(stack):
    conn = sqlite3.connect(db_path(stack), timeout=10)
    conn.isolation_level = None
    return conn


def mxc(stack, mid, server=None):
    return "mxc://%s/%s" % (server or stack.server_name, mid)


def routes(stack, mid):
    """Every client route a media item is served on, with its auth."""
    a = stack.auth(stack.token)
    base = "/%s/%s" % (stack.server_name, mid)
    th = "?width=32&height=32&method=crop"
    return [
        (V3 + "/download" + base, {}),
        (R0 + "/download" + base, {}),
        (V1 + "/download" + base, a),
        (V3 + "/thumbnail" + base + th, {}),
        (V1 + "/thumbnail" + base + th, a),
    ]


def get(stack, path, headers=None):
    return requests.get(stack.url(path), headers=headers or {}, timeout=30)


def post_upload(stack, data, token=None):
    return requests.post(stack.url(V3 + "/upload"), data=data, timeout=30,
                         headers=dict(stack.auth(token or stack.token),
                                      **{"Content-Type": "image/png"}))


def assert_error(r, status, errcode):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["errcode"] == errcode, r.text


def thumbs_of(stack, mid):
    with db(stack) as c:
        return [r[0] for r in c.execute(
            "SELECT sha256 FROM thumbnails WHERE server_name = ? AND "
            "media_id = ?", (stack.server_name, mid))]


# --- --help and usage ---------------------------------------------------------

@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_on_every_command_exits_0(stack, cmd):
    r = stack.admin(*cmd.split(), "--help", check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: mediarepo-admin " + cmd), r.stdout
    assert len(r.stdout.splitlines()) >= 3


def test_top_level_help_lists_every_command(stack):
    r = stack.admin("--help")
    for cmd in COMMANDS:
        assert "  " + cmd in r.stdout, cmd
    r = stack.admin("media", "--help")
    assert r.stdout.count("usage: mediarepo-admin media ") == 5


BAD_USAGE = [
    [], ["no-such-command"], ["media"], ["media", "frobnicate"],
    ["media", "info"], ["media", "info", "not-an-mxc"],
    ["media", "info", "mxc://bad server/x"], ["media", "delete"],
    ["media", "list"], ["media", "list", "--user"],
    ["media", "list", "--user", "bob"], ["quarantine"],
    ["quarantine", "--hash", "abc"], ["quarantine", "--user"],
    ["quarantine", "--frob", "x"], ["unquarantine", "a", "b", "c"],
    ["purge-remote"], ["purge-remote", "--before"],
    ["purge-remote", "--before", "soonish"], ["purge-previews", "x"],
    ["gc", "--bogus"], ["gc", "--min-age"], ["verify", "x"], ["stats", "x"],
    ["import-synapse"], ["import-synapse", "only-one"],
]


@pytest.mark.parametrize("args", BAD_USAGE, ids=" ".join)
def test_bad_usage_exits_2(stack, args):
    r = stack.admin(*args, check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "usage" in r.stderr


def test_failure_exits_1(stack):
    r = stack.admin("media", "info", mxc(stack, "NoSuchMediaId1234"),
                    check=False)
    assert r.returncode == 1
    assert "not found" in r.stderr
    r = stack.admin("media", "delete", mxc(stack, "NoSuchMediaId1234"),
                    check=False)
    assert r.returncode == 1
    r = stack.admin("quarantine", mxc(stack, "NoSuchMediaId1234"),
                    check=False)
    assert r.returncode == 1


# --- media info / list / delete -----------------------------------------------

def test_media_info_shows_metadata_file_and_thumbnails(stack):
    data = png()
    mid = stack.upload(data, "image/png", filename="cat.png")
    out = stack.admin("media", "info", mxc(stack, mid)).stdout
    fields = dict(re.findall(r"^(\w+) +(.*)$", out, re.M))
    assert fields["sha256"] == sha(data)
    assert fields["size"] == str(len(data))
    assert fields["content_type"] == "image/png"
    assert fields["upload_name"] == "cat.png"
    assert fields["user_id"].startswith("@admin:")
    assert fields["quarantined"] == "no"
    assert fields["origin"] == "local"
    assert fields["file"] == blob_path(stack, sha(data))
    thumbs = re.findall(r"^  (\d+x\d+ (?:crop|scale)).* (/\S+)$", out, re.M)
    assert len(thumbs) == len(thumbs_of(stack, mid)) >= 2, out
    for _box, path in thumbs:
        assert os.path.exists(path)


def test_media_list_by_user_one_line_each(stack):
    user = "@lister%d:%s" % (next(_n), stack.server_name)
    tok = stack.new_token(user)
    mids = [stack.upload(unique(), "text/plain", filename="f%d.txt" % i,
                         token=tok) for i in range(3)]
    lines = stack.admin("media", "list", "--user", user).stdout.splitlines()
    assert [l.split("\t")[0] for l in lines] == [mxc(stack, m) for m in mids]
    assert all(l.split("\t")[2] == "text/plain" for l in lines)
    assert [l.split("\t")[-1] for l in lines] == ["f0.txt", "f1.txt",
                                                  "f2.txt"]
    empty = stack.admin("media", "list", "--user", "@nobody:" +
                        stack.server_name)
    assert empty.stdout == ""


def test_media_delete_removes_row_thumbnails_and_unshared_files(stack):
    data = png()
    mid = stack.upload(data, "image/png")
    thumbs = thumbs_of(stack, mid)
    assert thumbs
    paths = [blob_path(stack, h) for h in [sha(data)] + thumbs]
    assert all(os.path.exists(p) for p in paths)
    out = stack.admin("media", "delete", mxc(stack, mid)).stdout
    assert "removed %d files" % len(set(paths)) in out, out
    assert not any(os.path.exists(p) for p in paths)
    assert thumbs_of(stack, mid) == []
    for path, headers in routes(stack, mid):
        assert_error(get(stack, path, headers), 404, "M_NOT_FOUND")


def test_media_delete_keeps_bytes_another_row_has(stack):
    data = unique(b"shared bytes")
    first = stack.upload(data, "text/plain")
    second = stack.upload(data, "text/plain")
    path = blob_path(stack, sha(data))
    out = stack.admin("media", "delete", mxc(stack, first)).stdout
    assert "removed 0 files" in out
    assert os.path.exists(path)
    assert get(stack, V3 + "/download/%s/%s" % (stack.server_name,
                                                second)).content == data
    stack.admin("media", "delete", mxc(stack, second))
    assert not os.path.exists(path)


# --- quarantine ---------------------------------------------------------------

def assert_served(stack, mid, data=None):
    for path, headers in routes(stack, mid):
        r = get(stack, path, headers)
        assert r.status_code == 200, (path, r.status_code, r.text)
        if data is not None and "/download/" in path:
            assert r.content == data


def assert_hidden(stack, mid):
    for path, headers in routes(stack, mid):
        assert_error(get(stack, path, headers), 404, "M_NOT_FOUND")


def test_quarantine_hides_media_everywhere_and_refuses_reupload(stack):
    data = png()
    mid = stack.upload(data, "image/png")
    assert_served(stack, mid, data)
    out = stack.admin("quarantine", mxc(stack, mid)).stdout
    assert "quarantined 1 media" in out
    assert_hidden(stack, mid)
    assert "quarantined     yes" in stack.admin(
        "media", "info", mxc(stack, mid)).stdout
    # The same bytes again, by anyone and by any upload path: 403.
    assert_error(post_upload(stack, data), 403, "M_FORBIDDEN")
    assert_error(post_upload(stack, data, stack.new_token()), 403,
                 "M_FORBIDDEN")
    r = requests.post(stack.url("/_matrix/media/v1/create"), timeout=30,
                      headers=stack.auth(stack.token))
    created = r.json()["content_uri"].rsplit("/", 1)[1]
    r = requests.put(stack.url(V3 + "/upload/%s/%s" % (stack.server_name,
                                                         created)),
                     data=data, headers=stack.auth(stack.token), timeout=30)
    assert_error(r, 403, "M_FORBIDDEN")
    # The refused copies left the one blob the quarantined row has.
    assert os.path.exists(blob_path(stack, sha(data)))
    out = stack.admin("unquarantine", mxc(stack, mid)).stdout
    assert "unquarantined 1 media" in out
    assert_served(stack, mid, data)
    assert post_upload(stack, data).status_code == 200


def test_quarantine_by_hash_takes_every_copy(stack):
    data = png()
    a = stack.upload(data, "image/png")
    b = stack.upload(data, "image/png")
    out = stack.admin("quarantine", "--hash", sha(data).upper()).stdout
    assert "quarantined 2 media" in out
    assert_hidden(stack, a)
    assert_hidden(stack, b)
    assert_error(post_upload(stack, data), 403, "M_FORBIDDEN")
    # Releasing one copy releases the bytes, so every copy (as Synapse's
    # unquarantine by id does since it tracks hashes).
    out = stack.admin("unquarantine", mxc(stack, a)).stdout
    assert "unquarantined 2 media" in out
    assert_served(stack, a)
    assert_served(stack, b)
    assert post_upload(stack, data).status_code == 200
    stack.admin("quarantine", mxc(stack, b))
    assert_hidden(stack, a)
    stack.admin("unquarantine", "--hash", sha(data))
    assert_served(stack, a)
    assert_served(stack, b)


def test_quarantined_hash_never_uploaded_leaves_no_file(stack):
    data = unique(b"banned before it arrives")
    out = stack.admin("quarantine", "--hash", sha(data)).stdout
    assert "quarantined 0 media" in out
    assert_error(post_upload(stack, data), 403, "M_FORBIDDEN")
    assert not os.path.exists(blob_path(stack, sha(data)))
    assert os.listdir(os.path.join(store_root(stack), "tmp")) == []
    stack.admin("unquarantine", "--hash", sha(data))
    assert post_upload(stack, data).status_code == 200


def test_quarantine_by_user(stack):
    user = "@spammer%d:%s" % (next(_n), stack.server_name)
    tok = stack.new_token(user)
    mine = [stack.upload(png(), "image/png", token=tok) for _ in range(2)]
    other = stack.upload(png(), "image/png")
    out = stack.admin("quarantine", "--user", user).stdout
    assert "quarantined 2 media" in out
    for mid in mine:
        assert_hidden(stack, mid)
    assert_served(stack, other)
    lines = stack.admin("media", "list", "--user", user).stdout.splitlines()
    assert all("\tquarantined" in l for l in lines)
    stack.admin("unquarantine", "--user", user)
    for mid in mine:
        assert_served(stack, mid)


# --- purges -------------------------------------------------------------------

def plant_blob(stack, data, age_s=0):
    """A file in the blob tree as the blob store would write it."""
    path = blob_path(stack, sha(data))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if age_s:
        t = time.time() - age_s
        os.utime(path, (t, t))
    stack.give_back()
    return path


def plant_remote(stack, server, mid, data, age_ms, thumb=None):
    """A cached remote media row (and thumbnail row) with their files."""
    now = int(time.time() * 1000)
    plant_blob(stack, data)
    with db(stack) as c:
        c.execute("INSERT INTO media (server_name, media_id, sha256, size, "
                  "content_type, created_ts) VALUES (?, ?, ?, ?, ?, ?)",
                  (server, mid, sha(data), len(data), "text/plain",
                   now - age_ms))
        if thumb is not None:
            plant_blob(stack, thumb)
            c.execute("INSERT INTO thumbnails VALUES (?, ?, 32, 32, 'crop', "
                      "0, ?, ?, 'image/png', 32, 32, 0, ?)",
                      (server, mid, sha(thumb), len(thumb), now))


@pytest.mark.parametrize("ctype", ["text/plain\x01", "text/plain\rX: y",
                                   "text/pl\xe9in"])
def test_cached_remote_row_with_a_bad_type_is_served_as_bytes(stack, ctype):
    """A remote row cached before remote types were checked may hold any
    byte: it is served as application/octet-stream, not echoed."""
    data = unique(b"old remote row")
    mid = "oldtype%d" % next(_n)
    # Not *.example: test_purge_remote_before counts those rows.
    plant_remote(stack, "old-row.test", mid, data, 0)
    with db(stack) as c:
        c.execute("UPDATE media SET content_type = ? WHERE media_id = ?",
                  (ctype, mid))
    r = requests.get(stack.url(V3 + "/download/old-row.test/" + mid),
                     timeout=10)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"].startswith("attachment")


def test_purge_remote_before(stack):
    day = 86400 * 1000
    old, old_thumb = unique(b"old remote"), unique(b"old remote thumb")
    new = unique(b"new remote")
    shared = unique(b"also local")
    plant_remote(stack, "remote.example", "OldMedia%d" % next(_n), old,
                 3 * day, thumb=old_thumb)
    plant_remote(stack, "remote.example", "NewMedia%d" % next(_n), new,
                 day // 24)
    local = stack.upload(shared, "text/plain")
    plant_remote(stack, "other.example", "Shared%d" % next(_n), shared,
                 3 * day)
    r = stack.admin("purge-remote", "--before", "2d")
    assert re.search(r"purged 2 remote media; removed 2 files", r.stdout), \
        r.stdout
    assert "purge-remote: 100% 2/2" in r.stderr
    assert not os.path.exists(blob_path(stack, sha(old)))
    assert not os.path.exists(blob_path(stack, sha(old_thumb)))
    assert os.path.exists(blob_path(stack, sha(new)))
    assert os.path.exists(blob_path(stack, sha(shared)))
    assert get(stack, V3 + "/download/%s/%s" % (stack.server_name,
                                                local)).content == shared
    with db(stack) as c:
        left = [r[0] for r in c.execute(
            "SELECT media_id FROM media WHERE server_name LIKE '%.example'")]
        assert len(left) == 1 and left[0].startswith("NewMedia")
        assert c.execute("SELECT count(*) FROM thumbnails WHERE server_name "
                         "LIKE '%.example'").fetchone()[0] == 0


def test_purge_previews(stack):
    with db(stack) as c:
        for i in range(3):
            c.execute("INSERT INTO preview_cache (cache_key, state, until_ts, "
                      "body) VALUES (?, 'done', ?, '{}')",
                      ("key%d-%d" % (i, next(_n)), 2 ** 50))
    out = stack.admin("purge-previews").stdout
    assert re.search(r"removed \d+ cached previews", out)
    with db(stack) as c:
        assert c.execute("SELECT count(*) FROM preview_cache").fetchone() == \
            (0,)


# --- gc and verify ------------------------------------------------------------

def test_gc_removes_orphans_and_crash_leftovers_keeps_referenced(stack):
    kept = unique(b"referenced")
    mid = stack.upload(kept, "text/plain")
    os.utime(blob_path(stack, sha(kept)), (1, 1))
    orphan = plant_blob(stack, unique(b"orphan"), age_s=7200)
    young = plant_blob(stack, unique(b"young orphan"))
    stray = os.path.join(os.path.dirname(orphan), "not-a-blob")
    with open(stray, "w") as f:
        f.write("x")
    tmp = os.path.join(store_root(stack), "tmp", "999999999-crashed")
    with open(tmp, "wb") as f:
        f.write(b"half an upload")
    os.utime(tmp, (1, 1))

    dry = stack.admin("gc", "--dry-run")
    assert "orphan " + orphan in dry.stdout
    assert os.path.exists(orphan)

    r = stack.admin("gc")
    assert not os.path.exists(orphan)
    assert os.path.exists(young)            # may still be getting its row
    assert os.path.exists(stray)
    assert not os.path.exists(tmp)
    assert "removed 1 temp file" in r.stdout
    assert "1 stray file" in r.stdout
    assert re.search(r"^gc: 100% (\d+)/\1", r.stderr, re.M), r.stderr
    assert get(stack, V3 + "/download/%s/%s" % (stack.server_name,
                                                mid)).content == kept

    stack.admin("gc", "--min-age", "0")
    assert not os.path.exists(young)
    assert os.path.exists(blob_path(stack, sha(kept)))
    os.unlink(stray)
    # Thumbnails count as references too: a thumbnailed image survives.
    img = png()
    mid = stack.upload(img, "image/png")
    stack.admin("gc", "--min-age", "0")
    for h in [sha(img)] + thumbs_of(stack, mid):
        assert os.path.exists(blob_path(stack, h))
    assert_served(stack, mid, img)


def test_verify_reports_corrupt_and_missing_files(make_stack):
    s = make_stack()
    good = unique(b"good")
    s.upload(good, "text/plain")
    bad = unique(b"soon corrupt")
    s.upload(bad, "text/plain")
    gone = unique(b"soon missing")
    s.upload(gone, "text/plain")
    r = s.admin("verify")
    assert re.search(r"^3 ok, 0 corrupt", r.stdout, re.M), r.stdout

    with open(blob_path(s, sha(bad)), "r+b") as f:
        f.write(b"X")
    os.unlink(blob_path(s, sha(gone)))
    r = s.admin("verify", check=False)
    assert r.returncode == 1
    assert "corrupt " + blob_path(s, sha(bad)) in r.stdout
    assert "missing " + blob_path(s, sha(gone)) in r.stdout
    assert re.search(r"^1 ok, 1 corrupt, 0 unreadable, 1 missing", r.stdout,
                     re.M), r.stdout


def test_progress_on_a_terminal_shows_percent_count_and_rate(stack):
    master, slave = pty.openpty()
    try:
        p = subprocess.run([ADMIN, "verify"], env=stack.env, stdout=
                           subprocess.PIPE, stderr=slave, timeout=60)
        os.close(slave)
        slave = None
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert p.returncode == 0, p.stdout
    text = out.decode()
    # Redrawn in place, then a final line with the elapsed time.
    assert text.startswith("\rverify: "), text
    assert re.search(r"verify: 100% (\d+)/\1, [\d.]+/s, [\d.]+ MiB/s", text)
    assert re.search(r"in [\d.]+ s\r?\n$", text), text


# --- stats --------------------------------------------------------------------

def stats(s):
    out = s.admin("stats").stdout
    rows = {m[0]: (int(m[1]), int(m[2])) for m in
            re.findall(r"^(\w+) +(\d+) +(\d+)$", out, re.M)}
    users = re.findall(r"^  (@\S+) +(\d+) +(\d+)$", out, re.M)
    return rows, [(u, int(c), int(b)) for u, c, b in users]


def test_stats_numbers_match(make_stack):
    s = make_stack()
    big = "@big:" + s.server_name
    small = "@small:" + s.server_name
    tb, ts = s.new_token(big), s.new_token(small)
    sizes = {big: [5000, 7000], small: [300]}
    for user, tok in ((big, tb), (small, ts)):
        for n in sizes[user]:
            s.upload(os.urandom(n), "application/octet-stream", token=tok)
    img = png()
    s.upload(img, "image/png", token=ts)
    sizes[small].append(len(img))
    plant_remote(s, "remote.example", "RemoteOne", b"r" * 1234, 1000)
    with db(s) as c:
        tcount, tbytes = c.execute("SELECT count(*), sum(size) FROM "
                                   "thumbnails").fetchone()
    rows, users = stats(s)
    admin_bytes = rows["local"][1] - sum(map(sum, sizes.values()))
    assert rows["local"][0] == 4 and admin_bytes == 0, rows
    assert rows["remote"] == (1, 1234)
    assert rows["thumbnails"] == (tcount, tbytes) and tcount >= 2
    assert rows["quarantined"] == (0, 0)
    expect = sorted(((u, len(v), sum(v)) for u, v in sizes.items()),
                    key=lambda t: -t[2])
    assert users == expect, users
    s.admin("quarantine", "--user", small)
    rows, _ = stats(s)
    assert rows["quarantined"] == (2, sum(sizes[small]))


# --- import from Synapse ------------------------------------------------------

# Synapse's schema of local_media_repository (synapse/storage/schema/main/
# full_schemas/72/full.sql.sqlite, plus the columns added since).
SYNAPSE_SCHEMA = """
CREATE TABLE local_media_repository (
    media_id TEXT, media_type TEXT, media_length INTEGER,
    created_ts BIGINT, upload_name TEXT, user_id TEXT,
    quarantined_by TEXT, url_cache TEXT, last_access_ts BIGINT,
    safe_from_quarantine BOOLEAN DEFAULT 0 NOT NULL,
    authenticated BOOLEAN DEFAULT FALSE NOT NULL, sha256 TEXT,
    UNIQUE (media_id)
);
"""


def synapse_id():
    import random
    return "".join(random.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                                 "QRSTUVWXYZ") for _ in range(24))


def fake_synapse(tmp, items):
    """A Synapse media store and homeserver.db holding items: dicts with
    id, data (None: no file), type, name, user, quarantined, length."""
    store = os.path.join(tmp, "media_store")
    dbfile = os.path.join(tmp, "homeserver.db")
    conn = sqlite3.connect(dbfile)
    conn.executescript(SYNAPSE_SCHEMA)
    for it in items:
        mid = it["id"]
        if it.get("data") is not None:
            d = os.path.join(store, "local_content", mid[:2], mid[2:4])
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, mid[4:]), "wb") as f:
                f.write(it["data"])
        length = it.get("length", len(it["data"] or b""))
        conn.execute(
            "INSERT INTO local_media_repository (media_id, media_type, "
            "media_length, created_ts, upload_name, user_id, quarantined_by, "
            "last_access_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (mid, it.get("type", "application/octet-stream"), length,
             it.get("ts", 1600000000000), it.get("name"), it["user"],
             "@mod:hs" if it.get("quarantined") else None, None))
    conn.commit()
    conn.close()
    os.makedirs(store, exist_ok=True)
    readable_by_everyone(tmp)
    return store, dbfile


def readable_by_everyone(path):
    """mediarepo-admin run as root becomes the programs' user (README,
    "Operator tool"), which must be able to read what it imports, as a
    Synapse store readable by other users is."""
    d = os.path.abspath(path)
    while d != "/":
        os.chmod(d, os.stat(d).st_mode | 0o005)
        d = os.path.dirname(d)


def test_import_synapse_then_download(make_stack, tmp_path):
    s = make_stack()
    alice = "@alice:" + s.server_name
    text, image, banned = unique(b"hello from synapse"), png(), unique(b"bad")
    items = [
        {"id": synapse_id(), "data": text, "type": "text/plain",
         "name": "hello.txt", "user": alice, "ts": 1600000000123},
        {"id": synapse_id(), "data": image, "type": "image/png",
         "name": "caf\u00e9.png", "user": alice},
        {"id": synapse_id(), "data": banned, "type": "text/plain",
         "user": "@bob:" + s.server_name, "quarantined": True},
        {"id": synapse_id(), "data": None, "length": None,
         "user": alice},                    # created, never uploaded
    ]
    store, dbfile = fake_synapse(str(tmp_path), items)
    r = s.admin("import-synapse", store, dbfile)
    assert "imported 3 media (1 quarantined); 0 already here, " \
        "1 never uploaded, 0 failed" in r.stdout, r.stdout
    assert re.search(r"^import: 100% 4/4", r.stderr, re.M), r.stderr

    t, i, b = items[0]["id"], items[1]["id"], items[2]["id"]
    r = get(s, V3 + "/download/%s/%s" % (s.server_name, t))
    assert r.content == text
    assert r.headers["Content-Type"] == "text/plain"
    assert "hello.txt" in r.headers["Content-Disposition"]
    r = get(s, V1 + "/download/%s/%s" % (s.server_name, i), s.auth(s.token))
    assert r.content == image
    assert "caf%C3%A9.png" in r.headers["Content-Disposition"]
    # Thumbnails are made on first request, from the imported bytes.
    r = get(s, V3 + "/thumbnail/%s/%s?width=32&height=32&method=crop" % (
        s.server_name, i))
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (32, 32)
    assert_hidden(s, b)
    # Who quarantined it in Synapse is kept.
    assert re.search(r"^quarantined_by +@mod:hs$", s.admin(
        "media", "info", mxc(s, b)).stdout, re.M)
    assert_error(post_upload(s, banned), 403, "M_FORBIDDEN")
    info = s.admin("media", "info", mxc(s, t)).stdout
    assert "created         2020-09-13T12:26:40Z (1600000000123)" in info
    assert blob_path(s, sha(text)) in info
    lines = s.admin("media", "list", "--user", alice).stdout.splitlines()
    assert len(lines) == 2

    # Run again: nothing twice.
    r = s.admin("import-synapse", store, dbfile)
    assert "imported 0 media (0 quarantined); 3 already here" in r.stdout


def test_import_synapse_keeps_quarantined_bytes_hidden(make_stack, tmp_path):
    """Bytes quarantined here stay quarantined when an import brings them
    under another id: the row is kept (users know the id) but hidden."""
    s = make_stack()
    banned, fine = unique(b"banned here"), unique(b"fine")
    assert "quarantined 0 media" in s.admin("quarantine", "--hash",
                                            sha(banned)).stdout
    items = [{"id": synapse_id(), "data": banned, "type": "text/plain",
              "user": "@a:" + s.server_name},
             {"id": synapse_id(), "data": fine, "type": "text/plain",
              "user": "@a:" + s.server_name}]
    store, dbfile = fake_synapse(str(tmp_path), items)
    r = s.admin("import-synapse", store, dbfile)
    assert "imported 2 media (1 quarantined); 0 already here, " \
        "0 never uploaded, 0 failed" in r.stdout, r.stdout
    assert_hidden(s, items[0]["id"])
    info = s.admin("media", "info", mxc(s, items[0]["id"])).stdout
    assert "quarantined     yes" in info
    # Banned by --hash from the command line: the operator did it.
    assert re.search(r"^quarantined_by +-$", info, re.M), info
    r = get(s, V3 + "/download/%s/%s" % (s.server_name, items[1]["id"]))
    assert r.content == fine
    # Released by hash, the imported copy is served like the rest.
    s.admin("unquarantine", "--hash", sha(banned))
    r = get(s, V3 + "/download/%s/%s" % (s.server_name, items[0]["id"]))
    assert r.status_code == 200 and r.content == banned


def test_import_synapse_missing_file_fails_the_rest_imported(make_stack,
                                                            tmp_path):
    s = make_stack()
    ok = unique(b"present")
    items = [
        {"id": synapse_id(), "data": None, "length": 10,
         "user": "@a:" + s.server_name},
        {"id": synapse_id(), "data": ok, "user": "@a:" + s.server_name},
    ]
    store, dbfile = fake_synapse(str(tmp_path), items)
    r = s.admin("import-synapse", store, dbfile, check=False)
    assert r.returncode == 1
    assert items[0]["id"] in r.stderr and "cannot open" in r.stderr
    assert "imported 1 media" in r.stdout and "1 failed" in r.stdout
    r = get(s, V3 + "/download/%s/%s" % (s.server_name, items[1]["id"]))
    assert r.content == ok
    assert os.listdir(os.path.join(store_root(s), "tmp")) == []


def test_import_synapse_refuses_a_database_that_is_not_synapse(stack,
                                                              tmp_path):
    other = str(tmp_path / "other.db")
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    readable_by_everyone(tmp_path)
    r = stack.admin("import-synapse", str(tmp_path), other, check=False)
    assert r.returncode == 1
    assert "not a Synapse database" in r.stderr
    r = stack.admin("import-synapse", str(tmp_path / "nope"), other,
                    check=False)
    assert r.returncode == 1
