"""A full disk answers one way, whoever meets it first.

The stack's whole data directory (database, media store and the web
server's body spool) lives on a 24 MiB tmpfs. Uploads that no longer fit
fail in the web server (its spool) or in upload.fcgi (the store, the
database): either way the client gets the same Matrix error, the program
logs only what it answered itself, and uploads work again as soon as
space is freed. Needs root (mount); CI runs as root.
"""
import os
import re
import subprocess

import pytest
import requests

from conftest import Stack

FULL = {"errcode": "M_UNKNOWN",
        "error": "internal error, or the server is out of storage space; "
                 "try again later"}
V3 = "/_matrix/media/v3"


@pytest.fixture
def small_stack(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755",
                    "tmpfs", str(mnt)], check=True)
    stack = None
    try:
        stack = Stack(mnt / "data", ["max_upload_size = 50M"])
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def post(stack, size):
    return requests.post(stack.url(V3 + "/upload"), data=os.urandom(size),
                         headers=dict(stack.auth(stack.token),
                                      **{"Content-Type": "application/x-a"}),
                         timeout=60)


def test_full_disk_answers_one_way_and_recovers(small_stack):
    s = small_stack
    stored, refused = [], 0
    # Large uploads first (the spool fails), then smaller ones that the
    # spool takes but the store or database cannot (the program fails).
    for size in [5 << 20] * 6 + [3 << 20, 2 << 20, 1 << 20, 600 << 10,
                                 300 << 10, 100 << 10]:
        r = post(s, size)
        if r.status_code == 200:
            stored.append(r.json()["content_uri"])
            continue
        assert (r.status_code, r.json()) == (500, FULL), r.text
        refused += 1
    assert refused >= 2, "the disk never filled"
    assert stored
    # upload.fcgi logs what it answered, and only that: no 400 for a body
    # the web server cut short, no other status for a full disk.
    statuses = re.findall(r"^mediarepo upload \S+: POST \S+ (\d{3}) ",
                          s.read_log(), re.M)
    assert set(statuses) <= {"200", "500"}, statuses
    assert statuses.count("200") == len(stored)
    # Space freed, uploads work again at once.
    for uri in stored[:2]:
        s.admin("media", "delete", uri)
    r = post(s, 1 << 20)
    assert r.status_code == 200, r.text
