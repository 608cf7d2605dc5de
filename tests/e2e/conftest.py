"""End-to-end fixtures: a real lighttpd + spawn-fcgi stack per test module.

Each stack is tools/mediarepo-run (the same script `make run` uses) started
in a temp directory on a free loopback port. It is stopped by its PID when
the module ends, also on failure, and the test checks that none of the
processes it started survive.
"""
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ADMIN = os.path.join(TOP, "tools", "mediarepo-admin")
RUN = os.path.join(TOP, "tools", "mediarepo-run")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """A running mediarepo: base URL, server name, admin token, helpers."""

    def __init__(self, data_dir, extra_config=None, procs=2):
        self.data_dir = str(data_dir)
        self.port = free_port()
        self.server_name = "localhost:%d" % self.port
        self.base = "http://127.0.0.1:%d" % self.port
        self.config = os.path.join(self.data_dir, "mediarepo.conf")
        self.env = dict(os.environ, MEDIAREPO_CONFIG=self.config)
        os.makedirs(self.data_dir, exist_ok=True)
        # Write the config first so extra settings apply from the start;
        # mediarepo-run never overwrites an existing one.
        self.admin("init-config", self.config, self.server_name)
        extra_config = list(extra_config or [])
        with open(self.config, "a") as f:
            # X-Sendfile as make run has it, unless the test chooses.
            if not any(l.startswith("xsendfile") for l in extra_config):
                f.write("xsendfile = x-sendfile\n")
            for line in extra_config:
                f.write(line + "\n")
        self.log_path = os.path.join(self.data_dir, "run.log")
        self.log = open(self.log_path, "w")
        env = dict(self.env, DATA_DIR=self.data_dir, PORT=str(self.port),
                   SERVER_NAME=self.server_name, PROCS=str(procs))
        self.proc = subprocess.Popen([RUN], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.token = self._wait_ready()

    def _wait_ready(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mediarepo-run exited: " + self.read_log())
            m = re.search(r"token for \S+: (\S+)", self.read_log())
            if m:
                try:
                    r = requests.get(self.base + "/_matrix/media/v3/config",
                                     headers=self.auth(m.group(1)), timeout=2)
                    if r.status_code == 200:
                        return m.group(1)
                except requests.ConnectionError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("stack did not start: " + self.read_log())

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def admin(self, *args, check=True):
        return subprocess.run([ADMIN, *args], env=self.env, check=check,
                              capture_output=True, text=True)

    def new_token(self, user=None, guest=False):
        user = user or "@user%d:%s" % (time.monotonic_ns(), self.server_name)
        args = ["create-token", user] + (["--guest"] if guest else [])
        return self.admin(*args).stdout.strip()

    @staticmethod
    def auth(token):
        return {"Authorization": "Bearer " + token}

    def url(self, path):
        return self.base + path

    def upload(self, data, content_type="application/octet-stream",
               filename=None, token=None, prefix="/_matrix/media/v3"):
        params = {"filename": filename} if filename is not None else None
        headers = self.auth(token or self.token)
        if content_type is not None:
            headers["Content-Type"] = content_type
        r = requests.post(self.url(prefix + "/upload"), params=params,
                          data=data, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        uri = r.json()["content_uri"]
        assert uri.startswith("mxc://%s/" % self.server_name)
        return uri[len("mxc://%s/" % self.server_name):]

    def child_pids(self):
        """PIDs of the FastCGI programs, from spawn-fcgi's pid files."""
        pids = []
        run = os.path.join(self.data_dir, "run")
        for name in os.listdir(run):
            if name.endswith(".pids"):
                with open(os.path.join(run, name)) as f:
                    pids += [int(p) for p in f.read().split()]
        return pids

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def alive(pid):
    """True while pid runs (zombies left for init to reap count as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("stack"))
    yield s
    s.stop()


@pytest.fixture
def make_stack(tmp_path_factory):
    """Starts extra stacks with their own config lines; stops them after."""
    stacks = []

    def make(extra_config=None, procs=2):
        s = Stack(tmp_path_factory.mktemp("stack"), extra_config, procs)
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.stop()
