"""Scaling out on PostgreSQL (database_url): a server outage and the same
processes serving again, migrate-store there and back, and two hosts
(stacks on their own ports and data directories) sharing one database.

Every test starts its own PostgreSQL server (tests/pg-server, a unix
socket in a temp directory) and stops it by the fixture, also on failure.
The two hosts share one media store directory for now: blobs across hosts
without a shared disk are the S3 backend's part.
"""
import os
import re
import subprocess
import threading
import time

import pytest
import requests

from conftest import ADMIN, PgServer, free_port
from imgfixtures import src_jpeg



@pytest.fixture
def pg(tmp_path):
    """A PostgreSQL server of this test only (stopped after it)."""
    server = PgServer()
    yield server
    server.remove()


def download(stack, media_id, token=None, **kw):
    headers = stack.auth(token) if token else {}
    return requests.get(stack.url("/_matrix/client/v1/media/download/%s/%s"
                                  % (stack.server_name, media_id)),
                        headers=headers or stack.auth(stack.token),
                        timeout=30, **kw)


def test_outage_gives_503_then_the_same_processes_serve(pg, make_stack):
    s = make_stack(["database_url = " + pg.new_database()])
    media_id = s.upload(b"before the outage")
    assert download(s, media_id).content == b"before the outage"
    pids = sorted(s.child_pids())

    pg.stop()
    for attempt in range(3):
        t0 = time.monotonic()
        r = download(s, media_id)
        took = time.monotonic() - t0
        assert r.status_code == 503, r.text
        assert r.json()["errcode"] == "M_UNKNOWN"
        assert "database unavailable" in r.json()["error"]
        assert int(r.headers["Retry-After"]) >= 1
        assert took < 5, took
    r = requests.post(s.url("/_matrix/media/v3/upload"), data=b"x",
                      headers=s.auth(s.token), timeout=30)
    assert r.status_code == 503, r.text

    pg.start()
    assert download(s, media_id).content == b"before the outage"
    assert s.upload(b"after the outage")
    # No process was replaced: the old ones reconnected.
    assert sorted(s.child_pids()) == pids


def write_config(path, server_name, lines):
    """A config beside path's directory: init-config plus lines."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([ADMIN, "init-config", path, server_name], check=True,
                   capture_output=True)
    with open(path, "a") as f:
        for line in lines:
            f.write(line + "\n")


def migrate(stack, config, target):
    """mediarepo-admin -c config migrate-store target; its counts."""
    r = subprocess.run([ADMIN, "-c", config, "migrate-store", target],
                       env=stack.env, capture_output=True, text=True)
    stack.give_back()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "migrate-store:" in r.stderr     # progress on stderr
    counts = {}
    for m in re.finditer(r"^(\w+)\s+(\d+) copied\s+(\d+) already there",
                         r.stdout, re.M):
        counts[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    assert set(counts) == {"blobs", "media", "thumbnails", "tokens",
                           "quarantined"}, r.stdout
    return counts


def admin_out(config, *args):
    r = subprocess.run([ADMIN, "-c", config, *args], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_migrate_store_round_trip(pg, make_stack):
    """The stack's store (SQLite, or PostgreSQL under MR_STORE=pg) into a
    PostgreSQL database, and that into a SQLite file: every id, token and
    blob arrives, a second run copies nothing."""
    s = make_stack()
    user = "@mover:" + s.server_name
    token = s.new_token(user)
    ids = [s.upload(b"plain bytes", token=token),
           s.upload(src_jpeg(400, 300, 7)[0], content_type="image/jpeg",
                    token=token)]
    banned = s.upload(b"banned bytes", token=token)
    s.admin("quarantine", "mxc://%s/%s" % (s.server_name, banned))
    # The admin API's fields: protected, last read, who quarantined.
    s.admin("media", "protect", "mxc://%s/%s" % (s.server_name, ids[0]))
    assert download(s, ids[1]).status_code == 200
    r = requests.post(s.url("/_matrix/media/v1/create"),
                      headers=s.auth(token), timeout=30)
    pending = r.json()["content_uri"].rsplit("/", 1)[1]

    pg_conf = os.path.join(s.data_dir, "to-pg", "mediarepo.conf")
    write_config(pg_conf, s.server_name, [
        "database_url = " + pg.new_database(),
        "media_store_path = pg_store"])
    sq_conf = os.path.join(s.data_dir, "to-sqlite", "mediarepo.conf")
    write_config(sq_conf, s.server_name, ["media_store_path = sq_store"])
    s.give_back()

    first = migrate(s, s.config, pg_conf)
    assert first["media"] == (4, 0)     # 3 uploads and 1 pending
    assert first["blobs"][0] >= 4 and first["blobs"][1] == 0
    assert first["thumbnails"][0] >= 1
    assert first["tokens"][0] >= 2
    assert first["quarantined"] == (1, 0)
    again = migrate(s, s.config, pg_conf)
    assert all(c[0] == 0 for c in again.values()), again

    back = migrate(s, pg_conf, sq_conf)
    assert {k: v[0] for k, v in back.items()} == \
        {k: v[0] for k, v in first.items()}
    again = migrate(s, pg_conf, sq_conf)
    assert all(c[0] == 0 for c in again.values()), again

    # The far end holds what the start held, and its blobs check out.
    for conf in (pg_conf, sq_conf):
        assert admin_out(conf, "stats") == admin_out(s.config, "stats")
        assert admin_out(conf, "list-tokens") == \
            admin_out(s.config, "list-tokens")
        info = {}
        for media_id in ids + [banned, pending]:
            mxc = "mxc://%s/%s" % (s.server_name, media_id)
            info[media_id] = admin_out(conf, "media", "info", mxc)
            assert strip_paths(info[media_id]) == \
                strip_paths(admin_out(s.config, "media", "info", mxc))
        assert re.search(r"^protected\s+yes", info[ids[0]], re.M)
        assert re.search(r"^protected\s+no", info[ids[1]], re.M)
        assert re.search(r"^last_access\s+\d{4}-", info[ids[1]], re.M)
        assert re.search(r"^last_access\s+never", info[ids[0]], re.M)
        assert re.search(r"^quarantined_by\s+mediarepo-admin", info[banned],
                         re.M)
        assert admin_out(conf, "verify").startswith("%d ok, 0 corrupt" %
                                                    first["blobs"][0])

    # Store commands of the admin tool on the PostgreSQL copy, with rows.
    admin_out(pg_conf, "media", "delete",
              "mxc://%s/%s" % (s.server_name, ids[0]))
    assert "removed 0 orphaned" in admin_out(pg_conf, "gc", "--min-age", "0")
    assert admin_out(pg_conf, "verify").startswith("%d ok, 0 corrupt" %
                                                   (first["blobs"][0] - 1))
    assert "unquarantined 1 media" in admin_out(
        pg_conf, "unquarantine", "mxc://%s/%s" % (s.server_name, banned))


def strip_paths(text):
    """media info without the file paths, which differ per store."""
    return "\n".join(l for l in text.splitlines()
                     if "/" not in l.split(":", 1)[0] and "path" not in l)


@pytest.fixture
def two_hosts(pg, make_stack, tmp_path):
    """Two stacks of one deployment: one server name, one database, one
    media store (for now), each its own port and data directory."""
    url = pg.new_database()
    port_a = free_port()
    name = "localhost:%d" % port_a
    shared = ["database_url = " + url,
              "media_store_path = " + str(tmp_path / "shared_store"),
              "rc_media_create_burst_count = 4",
              "rc_media_create_per_second = 0.01"]
    a = make_stack(shared, port=port_a, server_name=name)
    b = make_stack(shared, server_name=name)
    return a, b


def test_two_hosts_share_pending_uploads_quarantine_and_limits(two_hosts):
    a, b = two_hosts
    token = a.new_token()

    # Created on B, long-polled on B, uploaded on A: B answers at once.
    r = requests.post(b.url("/_matrix/media/v1/create"),
                      headers=b.auth(token), timeout=30)
    assert r.status_code == 200, r.text
    media_id = r.json()["content_uri"].rsplit("/", 1)[1]
    got = {}

    def poll():
        got["r"] = requests.get(
            b.url("/_matrix/client/v1/media/download/%s/%s?timeout_ms=20000"
                  % (b.server_name, media_id)),
            headers=b.auth(token), timeout=30)
        got["t"] = time.monotonic()

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(1)
    assert "r" not in got
    r = requests.put(a.url("/_matrix/media/v3/upload/%s/%s"
                           % (a.server_name, media_id)),
                     data=b"uploaded on A", headers=a.auth(token),
                     timeout=30)
    put_done = time.monotonic()
    assert r.status_code == 200, r.text
    waiter.join(30)
    assert got["r"].status_code == 200
    assert got["r"].content == b"uploaded on A"
    assert got["t"] - put_done < 1.0

    # Quarantined on A: gone on B.
    a.admin("quarantine", "mxc://%s/%s" % (a.server_name, media_id))
    r = download(b, media_id, token)
    assert r.status_code == 404, r.text

    # One rate bucket for both: the burst of 4 is spent across hosts (one
    # create above).
    codes = []
    for s in (a, b, a, b):
        codes.append(requests.post(s.url("/_matrix/media/v1/create"),
                                   headers=s.auth(token),
                                   timeout=30).status_code)
    assert codes == [200, 200, 200, 429], codes
