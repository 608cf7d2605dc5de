"""Crash consistency: upload.fcgi processes killed with SIGKILL while many
uploads of varied sizes (random bytes, repeats, small PNGs that get
thumbnails) are in flight, over several rounds.

Afterwards every upload that was acknowledged (200 with a content_uri)
downloads whole with its bytes, `mediarepo-admin verify` finds nothing
corrupt or missing, and what the killed writers left is cleaned: `gc
--min-age 0` removes blobs no row names (a writer killed between storing
its file and its row) without touching a named one, and `sweep --min-age
0` empties the store's tmp/ (writers killed mid-body).

Each round runs on a fresh stack. The first kill of a round waits until a writer is seen mid
file and kills that one; the second comes at a random moment. The seed is
in every failure message; MR_CRASH_SEED repeats a run.
"""
import concurrent.futures
import hashlib
import io
import os
import random
import re
import signal
import threading
import time

import requests
from PIL import Image

ROUNDS = 3
PAYLOADS_PER_ROUND = 30     # then repeated: the same bytes again
MAX_UPLOADS_PER_ROUND = 120
WORKERS = 8
SIZES = [0, 1, 1000, 65535, 65537, 300_000, 1 << 20, 3 << 20, 6 << 20]
V3 = "/_matrix/media/v3"


def png(rng):
    im = Image.new("RGB", (rng.randint(200, 500), rng.randint(150, 400)),
                   tuple(rng.randrange(256) for _ in range(3)))
    im.putpixel((0, 0), (rng.randrange(256), 0, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def payloads(rng, n):
    """(bytes, content type): mostly random bytes, some repeats, some
    images (an upload makes their thumbnails before it answers)."""
    out = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.15 and out:
            out.append(rng.choice(out))
        elif kind < 0.3:
            out.append((png(rng), "image/png"))
        else:
            out.append((os.urandom(rng.choice(SIZES)),
                        "application/octet-stream"))
    return out


def tmp_files(s):
    if not hasattr(s, "tmp_dir"):
        s.tmp_dir = os.path.join(s.admin(
            "config-get", "media_store_path").stdout.strip(), "tmp")
    try:
        return os.listdir(s.tmp_dir)
    except FileNotFoundError:
        return []


def upload_pids(s):
    """The upload programs running now, as /proc shows them (their
    supervisor replaces killed ones)."""
    return [p for p in s.child_pids("upload") if _exe(p)]


def _exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


class Round:
    def __init__(self, s, rng, seed):
        self.s, self.rng, self.seed = s, rng, seed
        self.acked = []            # (media id, bytes)
        self.killed = []
        self.mid_write = False
        self.lock = threading.Lock()
        self.done = threading.Event()

    def upload(self, data, ctype):
        try:
            r = requests.post(self.s.url(V3 + "/upload"), data=data,
                              headers=dict(self.s.auth(self.s.token),
                                           **{"Content-Type": ctype}),
                              timeout=30)
        except requests.ConnectionError:
            return
        if r.status_code != 200:
            return
        uri = r.json()["content_uri"]
        m = re.fullmatch(r"mxc://([^/]+)/(.+)", uri)
        assert m and m.group(1) == self.s.server_name, (self.seed, uri)
        with self.lock:
            self.acked.append((m.group(2), data))

    def kill(self, pid):
        try:
            os.kill(pid, signal.SIGKILL)
            self.killed.append(pid)
        except ProcessLookupError:
            pass

    def killer(self):
        """Kill 1: a writer seen mid-file, once a few uploads went
        through. Kill 2: any upload process, at a random moment."""
        deadline = time.time() + 10
        while time.time() < deadline:
            with self.lock:
                enough = len(self.acked) >= 3
            pids = upload_pids(self.s)
            writing = [int(n.split("-")[0]) for n in tmp_files(self.s)
                       if n.split("-")[0].isdigit() and
                       int(n.split("-")[0]) in pids]
            if enough and writing:
                self.kill(writing[0])
                self.mid_write = True
                break
            time.sleep(0.005)
        time.sleep(self.rng.uniform(0, 0.6))
        for pid in upload_pids(self.s):
            if pid not in self.killed:
                self.kill(pid)
                break

    def worker(self, work, next_index):
        """Uploads until the killer is done, so kills land among
        uploads in flight."""
        while not self.done.is_set():
            with self.lock:
                i = next(next_index)
            if i >= MAX_UPLOADS_PER_ROUND:
                return
            self.upload(*work[i % len(work)])

    def run(self):
        work = payloads(self.rng, PAYLOADS_PER_ROUND)
        next_index = iter(range(1 << 30))

        def kill_then_stop():
            try:
                self.killer()
                time.sleep(0.2)     # uploads after the last kill fail
            finally:
                self.done.set()
        killer = threading.Thread(target=kill_then_stop)
        killer.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
                for f in [pool.submit(self.worker, work, next_index)
                          for _ in range(WORKERS)]:
                    f.result()
        finally:
            self.done.set()
            killer.join()

    def check_downloads(self, when):
        for mid, data in self.acked:
            r = requests.get(self.s.url("%s/download/%s/%s" % (
                V3, self.s.server_name, mid)), timeout=30)
            assert r.status_code == 200, (self.seed, when, mid, r.text[:200])
            assert len(r.content) == len(data), (self.seed, when, mid)
            assert hashlib.sha256(r.content).digest() == \
                hashlib.sha256(data).digest(), (self.seed, when, mid)

    def check_verify(self, when):
        r = self.s.admin("verify", check=False)
        assert r.returncode == 0, (self.seed, when, r.stdout, r.stderr)
        assert re.search(r"\b0 corrupt, 0 unreadable, 0 missing, 0 stray",
                         r.stdout), (self.seed, when, r.stdout)


def test_uploads_killed_midway_leave_a_consistent_store(make_stack):
    seed = int(os.environ.get("MR_CRASH_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    left_by_killed = 0
    for n in range(ROUNDS):
        s = make_stack()
        rd = Round(s, rng, "seed %d round %d" % (seed, n))
        rd.run()
        assert rd.killed, (rd.seed, "no upload process was killed")
        assert rd.acked, (rd.seed, "no upload was acknowledged")

        rd.check_downloads("after the kills")
        rd.check_verify("after the kills")

        left = [f for f in tmp_files(s)
                if f.split("-")[0].isdigit() and
                int(f.split("-")[0]) in rd.killed]
        left_by_killed += len(left)
        r = s.admin("gc", "--min-age", "0", check=False)
        assert r.returncode == 0, (rd.seed, r.stdout, r.stderr)
        # Shown with a failure: what the round went through.
        print("%s: %d acknowledged, killed %s (one mid-file: %s), %d temp "
              "files left; gc: %s" % (rd.seed, len(rd.acked), rd.killed,
                                      rd.mid_write, len(left),
                                      r.stdout.strip()))
        r = s.admin("gc", "--min-age", "0", "--dry-run", check=False)
        assert re.search(r"^found 0 orphaned blobs", r.stdout, re.M), \
            (rd.seed, r.stdout)
        r = s.admin("sweep", "--min-age", "0", check=False)
        assert r.returncode == 0, (rd.seed, r.stdout, r.stderr)
        assert tmp_files(s) == [], (rd.seed, tmp_files(s))

        # gc took nothing an acknowledged upload needs.
        rd.check_downloads("after gc and sweep")
        rd.check_verify("after gc and sweep")
        s.stop()
    # A writer was killed mid-file in some round, or the sweep checks
    # above checked nothing.
    assert left_by_killed > 0, "seed %d: no kill left a temp file" % seed
