"""The stack itself: make run's script starts everything and stops it all."""
import io
import os
import pwd
import re
import time

import pytest
import requests
from PIL import Image

from conftest import alive


def test_stop_leaves_no_process(make_stack):
    s = make_stack()
    pids = s.child_pids()
    assert len(pids) >= 5, pids
    assert all(alive(p) for p in pids)
    r = requests.get(s.url("/_matrix/client/v1/media/config"),
                     headers=s.auth(s.token), timeout=5)
    assert r.status_code == 200
    s.stop()
    deadline = time.time() + 5
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)]
    assert s.proc.returncode is not None


def test_existing_config_is_kept(make_stack):
    s = make_stack(["max_upload_size = 1234"])
    with open(s.config) as f:
        assert "max_upload_size = 1234" in f.read()
    r = requests.get(s.url("/_matrix/media/v3/config"),
                     headers=s.auth(s.token), timeout=5)
    assert r.json() == {"m.upload.size": 1234}
    assert os.path.exists(os.path.join(s.data_dir, "signing.key"))


def _uid(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1))


def _web_server_workers(s):
    """Processes of the stack's web server: the one whose command line
    names the stack's config, and its children (nginx's and Apache's
    workers), but not the programs."""
    run = os.path.join(s.data_dir, "run")
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read().decode(errors="replace")
            with open("/proc/%s/stat" % name) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        procs[int(name)] = (cmd, ppid)
    masters = {p for p, (cmd, _) in procs.items()
               if run in cmd and not cmd.startswith(TOP_CGI) and
               "mediarepo-spawn" not in cmd}
    return sorted(masters | {p for p, (cmd, ppid) in procs.items()
                             if ppid in masters and
                             not cmd.startswith(TOP_CGI)})


TOP_CGI = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..",
                                        "cgi-bin"))


@pytest.mark.skipif(os.geteuid() != 0, reason="privileges drop only as root")
def test_started_as_root_nothing_serves_as_root(make_stack):
    s = make_stack()
    want = "www-data" if s.webserver == "apache" else "mediarepo"
    uid = pwd.getpwnam(want).pw_uid
    programs = s.child_pids("upload") + s.child_pids("download")
    assert programs
    assert {_uid(p) for p in programs} == {uid}
    # The web server: its workers are www-data (a root parent may stay,
    # as Apache's and nginx's do, to bind and to reopen logs).
    workers = [p for p in _web_server_workers(s) if _uid(p) != 0]
    assert workers and {_uid(p) for p in workers} == {
        pwd.getpwnam("www-data").pw_uid}
    # The thumbnailer's child runs as its parent: an image upload works.
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (1, 2, 3)).save(buf, "PNG")
    mid = s.upload(buf.getvalue(), "image/png")
    r = requests.get(s.url("/_matrix/media/v3/thumbnail/%s/%s?width=32&"
                           "height=32" % (s.server_name, mid)), timeout=10)
    assert r.status_code == 200
    # Nothing of the data is world-readable; secrets are the owner's.
    data = s.data_dir
    for d, dirs, files in os.walk(data):
        if d.startswith(os.path.join(data, "run")):
            continue
        for name in [d] + [os.path.join(d, f) for f in files]:
            mode = os.stat(name).st_mode
            assert not mode & 0o007, (name, oct(mode))
    for name in ("mediarepo.db", "signing.key"):
        st = os.stat(os.path.join(data, name))
        assert st.st_mode & 0o777 == 0o600, (name, oct(st.st_mode))
        assert st.st_uid == uid
