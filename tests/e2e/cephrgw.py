"""A single-node Ceph (one mon, one memstore OSD, one radosgw) for tests.

Everything lives in a temp directory and listens on loopback ports picked
free; no systemd, no mgr (nothing here needs one). memstore keeps objects
in the OSD's memory, so tests keep their objects small. Start-up takes
about two seconds with `paxos propose interval = 0.05` (the default of a
second makes every pool creation wait, and start-up 17 s).

    rgw = CephRGW(tmpdir); rgw.start()
    rgw.make_bucket("b"); ... rgw.stop()

stop() ends the daemons by PID: radosgw, then the OSD, then the mon (a
mon stopped first makes the OSD wait seconds for it). kill_rgw() and
start_rgw() stop and restart radosgw alone, on the same port, for outage
tests. S3 requests of the tests themselves (bucket creation, listing)
go through `curl --aws-sigv4`, whose query and header quirks these
simple requests do not meet.

Run as a script it starts a cluster, makes a bucket, and stops.
"""
import os
import signal
import socket
import subprocess
import time
import uuid

ACCESS_KEY = "MEDIAREPOTESTKEY0001"
SECRET_KEY = "mediarepo-test-secret-0123456789abcdefghij"
REGION = "us-east-1"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid):
    """True while pid runs; a zombie counts as gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1][0] not in "ZX"
    except (FileNotFoundError, IndexError):
        return False


class CephRGW:
    def __init__(self, directory):
        self.dir = str(directory)
        self.mon_port = _free_port()
        self.rgw_port = _free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.rgw_port
        self.conf = os.path.join(self.dir, "ceph.conf")
        self.keyring = os.path.join(self.dir, "keyring")
        self.procs = {}			# name -> Popen
        self.logs = {}

    # --- set-up -------------------------------------------------------------

    def _write_conf(self):
        d = self.dir
        fsid = str(uuid.uuid4())
        self.fsid = fsid
        lines = [
            "[global]",
            "fsid = " + fsid,
            "mon host = v2:127.0.0.1:%d" % self.mon_port,
            "mon initial members = a",
            "public addr = 127.0.0.1",
            "ms bind msgr1 = false",
            "ms bind ipv6 = false",
            "auth cluster required = cephx",
            "auth service required = cephx",
            "auth client required = cephx",
            "keyring = " + self.keyring,
            "run dir = " + d + "/run",
            "admin socket = " + d + "/run/$name.asok",
            "log file = " + d + "/log/$name.log",
            "pid file = " + d + "/run/$name.pid",
            "mon data = " + d + "/mon/$name",
            "osd data = " + d + "/osd/$name",
            "osd objectstore = memstore",
            "memstore device bytes = 2147483648",
            "osd pool default size = 1",
            "osd pool default min size = 1",
            "osd pool default pg num = 8",
            "osd pool default pgp num = 8",
            "osd pool default pg autoscale mode = off",
            "mon max pg per osd = 1000",
            "mon allow pool size one = true",
            "osd crush chooseleaf type = 0",
            "mon mgr mkfs grace = 31536000",
            "mon mgr inactive grace = 31536000",
            "paxos propose interval = 0.05",
            "",
            "[client.rgw.a]",
            "rgw frontends = beast endpoint=127.0.0.1:%d" % self.rgw_port,
            "rgw dns name = localhost",
            "rgw dynamic resharding = false",
            "",
        ]
        for sub in ("run", "log", "mon", "osd"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines))

    def _run(self, *args, timeout=60):
        r = subprocess.run(list(args), capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr))
        return r.stdout

    def ceph(self, *args, timeout=30):
        return self._run("ceph", "-c", self.conf, "--connect-timeout", "10",
                         *args, timeout=timeout)

    def _keys(self):
        kr = self.keyring
        self._run("ceph-authtool", "--create-keyring", kr, "--gen-key",
                  "-n", "mon.", "--cap", "mon", "allow *")
        for name, caps in (
                ("client.admin", ["mon", "allow *", "osd", "allow *",
                                  "mds", "allow *", "mgr", "allow *"]),
                ("osd.0", ["mon", "allow profile osd", "osd", "allow *",
                           "mgr", "allow profile osd"]),
                ("client.rgw.a", ["mon", "allow rw", "osd", "allow rwx",
                                  "mgr", "allow rw"])):
            cap_args = []
            for i in range(0, len(caps), 2):
                cap_args += ["--cap", caps[i], caps[i + 1]]
            self._run("ceph-authtool", kr, "--gen-key", "-n", name,
                      *cap_args)

    def _spawn(self, name, args):
        log = open(os.path.join(self.dir, "log", name + ".out"), "w")
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)

    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        self._write_conf()
        self._keys()
        monmap = os.path.join(self.dir, "monmap")
        self._run("monmaptool", "--create", "--fsid", self.fsid, "--addv",
                  "a", "[v2:127.0.0.1:%d]" % self.mon_port, monmap)
        self._run("ceph-mon", "-c", self.conf, "--mkfs", "-i", "a",
                  "--monmap", monmap, "--keyring", self.keyring)
        self._spawn("mon", ["ceph-mon", "-c", self.conf, "-f", "-i", "a"])
        osd_uuid = str(uuid.uuid4())
        osd_id = self.ceph("osd", "new", osd_uuid).strip()
        if osd_id != "0":
            raise RuntimeError("unexpected OSD id %r" % osd_id)
        os.makedirs(os.path.join(self.dir, "osd", "osd.0"), exist_ok=True)
        self._run("ceph-osd", "-c", self.conf, "-i", "0", "--mkfs",
                  "--osd-uuid", osd_uuid)
        self._spawn("osd", ["ceph-osd", "-c", self.conf, "-f", "-i", "0"])
        deadline = time.time() + 60
        while "1 up" not in self.ceph("osd", "stat"):
            self._check_alive()
            if time.time() > deadline:
                raise RuntimeError("OSD did not come up")
            time.sleep(0.1)
        self.start_rgw()
        self._run("radosgw-admin", "-c", self.conf, "user", "create",
                  "--uid=test", "--display-name=test",
                  "--access-key=" + ACCESS_KEY, "--secret-key=" + SECRET_KEY)

    def _check_alive(self):
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError("%s exited (%s); see %s" % (
                    name, p.returncode, self.dir + "/log"))

    def start_rgw(self):
        """radosgw, waited for until it answers HTTP."""
        self._spawn("rgw", ["radosgw", "-c", self.conf, "-f", "-n",
                            "client.rgw.a"])
        deadline = time.time() + 60
        while True:
            self._check_alive()
            try:
                with socket.create_connection(("127.0.0.1", self.rgw_port),
                                              timeout=1):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError("radosgw did not answer")
            time.sleep(0.05)

    def kill_rgw(self, sig=signal.SIGKILL):
        self._stop_one("rgw", sig)

    def _stop_one(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p is None:
            return
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        log = self.logs.pop(name, None)
        if log:
            log.close()

    def stop(self):
        for name in ("rgw", "osd", "mon"):
            self._stop_one(name)

    def pids(self):
        return [p.pid for p in self.procs.values() if _alive(p.pid)]

    # --- S3 through curl, for the tests' own requests -------------------------

    def curl(self, method, path, data=None, secret=SECRET_KEY,
             extra=(), check=True):
        """(status, body bytes) of a signed request to path ("/bucket/key")."""
        args = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}",
                "-X", method, "--aws-sigv4", "aws:amz:%s:s3" % REGION,
                "--user", "%s:%s" % (ACCESS_KEY, secret),
                "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                *extra, self.endpoint + path]
        if data is not None:
            args[1:1] = ["--data-binary", "@-"]
        r = subprocess.run(args, input=data, capture_output=True, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError("curl failed: %s" % r.stderr)
        body, _, code = r.stdout.rpartition(b"\n")
        return int(code), body

    def make_bucket(self, name):
        status, body = self.curl("PUT", "/" + name, data=b"")
        if status != 200:
            raise RuntimeError("bucket %s: %d %s" % (name, status, body))

    def list_keys(self, bucket):
        """Every key in the bucket (one page is enough for tests)."""
        import re
        status, body = self.curl("GET", "/%s?list-type=2&max-keys=1000"
                                 % bucket)
        if status != 200:
            raise RuntimeError("list %s: %d %s" % (bucket, status, body))
        return re.findall(r"<Key>([^<]*)</Key>", body.decode())


# --- one cluster per test session -------------------------------------------

_session = None
_buckets = 0


def session_rgw():
    """The session's cluster, started on first use (stop_session_rgw at the
    end of the session stops it; so does the interpreter's exit)."""
    global _session
    if _session is None:
        import atexit
        import tempfile
        base = os.environ.get("MR_CEPH_DIR") or tempfile.mkdtemp(
            prefix="mediarepo-ceph-")
        _session = CephRGW(base).start()
        atexit.register(stop_session_rgw)
    return _session


def stop_session_rgw():
    global _session
    if _session is not None:
        _session.stop()
        if not os.environ.get("MR_CEPH_DIR"):
            import shutil
            shutil.rmtree(_session.dir, ignore_errors=True)
        _session = None


def config_lines(rgw, bucket, secret=SECRET_KEY, timeout="5s"):
    """mediarepo.conf lines for a bucket of rgw."""
    return ["s3_endpoint = " + rgw.endpoint, "s3_bucket = " + bucket,
            "s3_region = " + REGION, "s3_access_key_id = " + ACCESS_KEY,
            "s3_secret_access_key = " + secret,
            # Outage tests wait for these: keep them short.
            "s3_connect_timeout = 1s", "s3_timeout = " + timeout]


def session_bucket():
    """(name, config lines) of a new bucket on the session's cluster."""
    global _buckets
    rgw = session_rgw()
    _buckets += 1
    name = "stack%d" % _buckets
    rgw.make_bucket(name)
    return name, config_lines(rgw, name)


def serve(directory, ready_file, buckets):
    """Starts a cluster with these buckets, writes its endpoint to
    ready_file, and runs until SIGTERM or SIGINT (then stops it)."""
    rgw = CephRGW(directory).start()
    try:
        for b in buckets:
            rgw.make_bucket(b)
        with open(ready_file + ".tmp", "w") as f:
            f.write(rgw.endpoint + "\n")
        os.rename(ready_file + ".tmp", ready_file)
        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(
            KeyboardInterrupt()))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        rgw.stop()


if __name__ == "__main__":
    import sys
    if len(sys.argv) > 3 and sys.argv[1] == "serve":
        # cephrgw.py serve DIR READY_FILE [BUCKET...] (bench/s3 uses it)
        serve(sys.argv[2], sys.argv[3], sys.argv[4:])
        sys.exit(0)
    import tempfile
    d = tempfile.mkdtemp(prefix="cephrgw-")
    t0 = time.time()
    rgw = CephRGW(d).start()
    try:
        print("up in %.1f s at %s" % (time.time() - t0, rgw.endpoint))
        rgw.make_bucket("smoke")
        print(rgw.curl("PUT", "/smoke/a/b", data=b"hello"))
        print(rgw.list_keys("smoke"))
        print(rgw.curl("GET", "/smoke/a/b"))
    finally:
        rgw.stop()
    print("stopped after %.1f s; files in %s" % (time.time() - t0, d))
