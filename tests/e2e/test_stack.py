"""The stack itself: make run's script starts everything and stops it all."""
import os
import time

import requests

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
