"""End-to-end fixtures: a real web server + FastCGI stack per test module.

Each stack is tools/mediarepo-run (the same script `make run` uses) started
in a temp directory on a free loopback port. It is stopped by its PID when
the module ends, also on failure, and the test checks that none of the
processes it started survive.

MR_BLOB=s3 keeps every stack's blobs in a bucket of its own on one Ceph
RADOS Gateway the session starts (cephrgw.py), served from the local cache
(README, "Objects in S3"); the default, files, keeps them in the data dir.

MR_WEBSERVERS (comma-separated; default "lighttpd") chooses the web servers
the suite runs on: lighttpd, apache (mod_fcgid), nginx. With more than one,
every test runs once per server (its id ends in [lighttpd], [apache], ...),
server after server. Tests of one server's own behaviour are skipped on the
others by SERVER_SPECIFIC below, each with its reason.

MR_STORE=pg runs every stack on PostgreSQL instead of SQLite: one server
for the session (tests/pg-server, in a temp directory, stopped when the
session ends, also on failure), one database per stack (database_url).
"""
import functools
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

import cephrgw

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ADMIN = os.path.join(TOP, "tools", "mediarepo-admin")
RUN = os.path.join(TOP, "tools", "mediarepo-run")
PG_SERVER = os.path.join(TOP, "tests", "pg-server")
STORE = os.environ.get("MR_STORE", "sqlite")
if STORE not in ("sqlite", "pg"):
    raise ValueError("MR_STORE: sqlite or pg, not %r" % STORE)

MR_BLOB = os.environ.get("MR_BLOB", "files")
if MR_BLOB not in ("files", "s3"):
    raise ValueError("MR_BLOB: files or s3, not %r" % MR_BLOB)

WEBSERVERS = [w.strip() for w in
              os.environ.get("MR_WEBSERVERS", "lighttpd").split(",")
              if w.strip()]
for _w in WEBSERVERS:
    if _w not in ("lighttpd", "apache", "nginx"):
        raise ValueError("MR_WEBSERVERS: unknown web server %r" % _w)
# The server Stack uses when a test does not name one; the webserver
# fixture switches it when several servers are chosen.
current_webserver = WEBSERVERS[0]

# Tests of what one web server does itself, skipped on the others:
# (test function, text in its parameter id or "", servers to skip on, why).
# They still run (and assert) on the servers not named.
SERVER_SPECIFIC = [
    ("test_options_is_cors_preflight_only", "%00", ("apache", "nginx"),
     "Apache and nginx refuse %00 in a path themselves (JSON 400/404), "
     "also for OPTIONS, before any program runs"),
    ("test_abandoned_waits_free_their_slots", "", ("apache",),
     "mod_fcgid does not watch the client while a program works, so a "
     "wait runs to its own deadline (README, \"Abuse and limits\")"),
]

# Tests that plant or read rows in the SQLite file themselves (they reach
# into mediarepo.db with Python's sqlite3): skipped under MR_STORE=pg,
# where there is no such file. What they check of the programs runs on
# PostgreSQL in the rest of the suite.
SQLITE_FILE_TESTS = [
    "test_media_info_shows_metadata_file_and_thumbnails",
    "test_media_delete_removes_row_thumbnails_and_unshared_files",
    "test_cached_remote_row_with_a_bad_type_is_served_as_bytes",
    "test_purge_remote_before",
    "test_purge_previews",
    "test_gc_removes_orphans_and_crash_leftovers_keeps_referenced",
    "test_stats_numbers_match",
    "test_cache_is_keyed_by_hash_not_token",
    "test_appservice_uploads_belong_to_the_user_it_acts_for",
]


# Tests that read or plant files in media_store_path, skipped with
# MR_BLOB=s3; test_s3.py checks the same on the bucket's side.
FILES_ONLY = [
    "test_same_bytes_stored_once", "test_20_mib_upload",
    "test_media_info_shows_metadata_file_and_thumbnails",
    "test_media_delete_removes_row_thumbnails_and_unshared_files",
    "test_media_delete_keeps_bytes_another_row_has",
    "test_quarantine_hides_media_everywhere_and_refuses_reupload",
    "test_cached_remote_row_with_a_bad_type_is_served_as_bytes",
    "test_purge_remote_before",
    "test_gc_removes_orphans_and_crash_leftovers_keeps_referenced",
    "test_verify_reports_corrupt_and_missing_files",
    "test_progress_on_a_terminal_shows_percent_count_and_rate",
    "test_import_synapse_then_download",
]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """The programs run as an unprivileged user when the suite runs as
    root (www-data under Apache, mediarepo otherwise), and must reach the
    stacks' directories through every directory above.
    Under /tmp/pytest-of-root they could not for long: each new pytest
    session (another run alongside) resets that directory to 0700. So a
    run with Apache gets a base directory of its own, unless one is given
    (--basetemp); it is removed when the run passes."""
    if (os.geteuid() == 0 and
            not config.option.basetemp):
        config.option.basetemp = tempfile.mkdtemp(prefix="mediarepo-e2e-")
        config.mediarepo_own_basetemp = config.option.basetemp


class PgServer:
    """A PostgreSQL server of this session, in its own directory, on a
    unix socket there; databases are made with psql."""

    def __init__(self, parent=None):
        self.dir = tempfile.mkdtemp(prefix="mediarepo-pg-", dir=parent)
        self.count = 0
        self.start()

    def start(self):
        """Starts it (again, on its data, after stop)."""
        self.url = subprocess.run([PG_SERVER, "start", self.dir], check=True,
                                  capture_output=True,
                                  text=True).stdout.strip()

    def stop(self):
        """Stops it at once, as a crash would."""
        subprocess.run([PG_SERVER, "stop", self.dir], check=False)

    def psql(self, sql, db="postgres"):
        return subprocess.run(
            ["psql", "-qAt", "-v", "ON_ERROR_STOP=1",
             self.db_url(db), "-c", sql],
            check=True, capture_output=True, text=True).stdout

    def db_url(self, name):
        return self.url.replace("/postgres?", "/%s?" % name)

    def new_database(self):
        """A fresh empty database; its URL."""
        self.count += 1
        name = "mr_%d_%d" % (os.getpid(), self.count)
        self.psql("CREATE DATABASE %s" % name)
        return self.db_url(name)

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


_pg_server = None


def pg_server():
    """The session's PostgreSQL server, started on first use."""
    global _pg_server
    if _pg_server is None:
        _pg_server = PgServer()
    return _pg_server


def pytest_sessionfinish(session, exitstatus):
    if _pg_server is not None:
        _pg_server.remove()
    cephrgw.stop_session_rgw()
    own = getattr(session.config, "mediarepo_own_basetemp", None)
    if own and exitstatus == 0:
        shutil.rmtree(own, ignore_errors=True)
    elif own:
        print("\ne2e stacks' files kept in %s" % own)


def _item_webserver(item):
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "webserver" in callspec.params:
        return callspec.params["webserver"]
    return WEBSERVERS[0]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if STORE == "pg" and item.originalname in SQLITE_FILE_TESTS:
            item.add_marker(pytest.mark.skip(
                reason="reads or writes the SQLite file itself"))
        if MR_BLOB == "s3" and item.originalname in FILES_ONLY:
            item.add_marker(pytest.mark.skip(
                reason="looks at media_store_path's files, not the bucket"))
            continue
        ws = _item_webserver(item)
        callspec = getattr(item, "callspec", None)
        param_id = callspec.id if callspec is not None else ""
        for func, in_id, servers, reason in SERVER_SPECIFIC:
            if (item.originalname == func and in_id in param_id and
                    ws in servers):
                item.add_marker(pytest.mark.skip(
                    reason="not on %s: %s" % (ws, reason)))
                break


if len(WEBSERVERS) > 1:
    @pytest.fixture(scope="session", autouse=True, params=WEBSERVERS)
    def webserver(request):
        """Runs the whole suite once per chosen web server."""
        global current_webserver
        current_webserver = request.param
        yield request.param

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(fixturedef, request):
        """A fixture wider than a test (a module's stack) is cached by
        pytest under its own parameters only: nothing ties it to the web
        server. With several modules it goes when its module ends, before
        the next server's turn; a module run alone, though, kept its
        first server's stack for the second server's tests. Tie each to
        the webserver fixture, as if it had asked for it: when the
        server changes, pytest ends it and makes it again."""
        if (fixturedef.scope != "function" and
                fixturedef.argname != "webserver" and
                "webserver" not in fixturedef.argnames):
            request._get_active_fixturedef("webserver").addfinalizer(
                functools.partial(fixturedef.finish, request=request))
        yield


# Stacks started and not yet stopped, to check they run on the web
# server of the test at hand.
LIVE_STACKS = []


@pytest.fixture(autouse=True)
def _stacks_on_this_webserver():
    """Every running stack a test can reach (a module's own included) is
    on the web server its id names, unless it chose one itself."""
    wrong = [(s.data_dir, s.webserver) for s in LIVE_STACKS
             if not s.own_webserver and s.webserver != current_webserver]
    assert not wrong, "stacks of another web server than %s: %s" % (
        current_webserver, wrong)
    yield


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """A running mediarepo: base URL, server name, admin token, helpers."""

    def __init__(self, data_dir, extra_config=None, procs=2, webserver=None,
                 tls=None, server_name=None, port=None):
        """procs: PROCS for mediarepo-run (None: the config's defaults).
        tls: (cert, key) to serve HTTPS (server_name and port then usually
        given too, as a certificate names them)."""
        self.data_dir = str(data_dir)
        self.own_webserver = webserver is not None
        self.webserver = webserver or current_webserver
        self.port = port or free_port()
        self.server_name = server_name or "localhost:%d" % self.port
        self.base = "%s://127.0.0.1:%d" % ("https" if tls else "http",
                                           self.port)
        # Test certificates name the server, not 127.0.0.1.
        self.verify = not tls
        self.config = os.path.join(self.data_dir, "mediarepo.conf")
        self.env = dict(os.environ, MEDIAREPO_CONFIG=self.config)
        os.makedirs(self.data_dir, exist_ok=True)
        # Write the config first so extra settings apply from the start;
        # mediarepo-run never overwrites an existing one.
        self.admin("init-config", self.config, self.server_name)
        extra_config = list(extra_config or [])
        if STORE == "pg" and not any(l.startswith("database_url")
                                     for l in extra_config):
            extra_config.append("database_url = " +
                                pg_server().new_database())
        self.s3_bucket = None
        if MR_BLOB == "s3" and not any(l.startswith("s3_bucket")
                                       for l in extra_config):
            self.s3_bucket, lines = cephrgw.session_bucket()
            extra_config = lines + extra_config
        with open(self.config, "a") as f:
            # X-Sendfile as make run has it, unless the test chooses
            # (nginx: its X-Accel-Redirect, the same for the tests).
            chosen = [l for l in extra_config if l.startswith("xsendfile")]
            if self.webserver == "nginx" and (
                    not chosen or "xsendfile = x-sendfile" in chosen):
                extra_config = [l for l in extra_config
                                if not l.startswith("xsendfile")]
                f.write("xsendfile = x-accel-redirect\n"
                        "xsendfile_prefix = /_mediarepo_media\n")
            elif not chosen:
                f.write("xsendfile = x-sendfile\n")
            for line in extra_config:
                f.write(line + "\n")
        self.log_path = os.path.join(self.data_dir, "run.log")
        self.log = open(self.log_path, "w")
        # Who owns the data once mediarepo-run has handed it over (a root
        # start): the programs' user and the web server's group.
        self.run_owner = ("www-data:www-data" if self.webserver == "apache"
                          else "mediarepo:www-data")
        if os.geteuid() == 0:
            self._let_apache_user_in()
        env = dict(self.env, DATA_DIR=self.data_dir, PORT=str(self.port),
                   SERVER_NAME=self.server_name, WEBSERVER=self.webserver)
        if procs is not None:
            env["PROCS"] = str(procs)
        if tls:
            env["TLS_CERT"], env["TLS_KEY"] = tls
        self.proc = subprocess.Popen([RUN], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        # A stack that fails to come up is never handed to a fixture, so
        # nothing else would stop it: its web server and programs would
        # outlive the test run (and an orphaned mod_fcgid process manager
        # spins on its dead parent's pipe).
        try:
            self.token = self._wait_ready()
            if self.webserver == "apache":
                self._start_every_apache_program()
        except BaseException:
            self.stop()
            raise
        LIVE_STACKS.append(self)

    def _let_apache_user_in(self, path=None):
        """Apache will not run programs as root: mediarepo-run hands the
        data directory to www-data, who must be able to reach it. pytest's
        temp directories are 0700; let others pass through (o+x, not
        list) every directory above this one."""
        d = os.path.dirname(os.path.abspath(path or self.data_dir))
        while d != "/":
            mode = os.stat(d).st_mode
            if not mode & 0o001:
                os.chmod(d, (mode & 0o7777) | 0o001)
            d = os.path.dirname(d)

    # One harmless request per program (refused before any work), so that
    # mod_fcgid, which starts programs on first use, has them all running.
    WARM_PATHS = [
        "/_matrix/media/v3/upload", "/_matrix/media/v1/create",
        "/_matrix/media/v3/download/localhost/warm",
        "/_matrix/media/v3/thumbnail/localhost/warm",
        "/_matrix/media/v3/preview_url",
        "/_matrix/federation/v1/media/download/warm",
        "/_matrix/federation/v1/media/thumbnail/warm",
        "/_matrix/key/v2/server", "/_matrix/media/v3/warm",
        "/_synapse/admin/v1/purge_media_cache",
    ]

    def _start_every_apache_program(self):
        for path in self.WARM_PATHS:
            requests.get(self.base + path, timeout=10, verify=self.verify)

    def _wait_ready(self):
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mediarepo-run exited: " + self.read_log())
            m = re.search(r"token for \S+: (\S+)", self.read_log())
            if m and os.geteuid() == 0 and \
                    not getattr(self, "apache_user_owns_data", False):
                # mediarepo-run has handed DATA_DIR to the programs' user.
                self.apache_user_owns_data = True
                self._chown_outside_paths()
            if m:
                # Under load mod_fcgid may take seconds to start
                # config.fcgi on first use: a slow answer is not a failure.
                try:
                    r = requests.get(self.base + "/_matrix/media/v3/config",
                                     headers=self.auth(m.group(1)), timeout=5,
                                     verify=self.verify)
                    if r.status_code == 200:
                        return m.group(1)
                except (requests.ConnectionError, requests.Timeout):
                    pass
            time.sleep(0.1)
        raise RuntimeError("stack did not start: " + self.read_log())

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def admin(self, *args, check=True):
        """mediarepo-admin as an operator runs it. Run as root on a stack
        whose data is handed over, it becomes the data's owner itself."""
        r = subprocess.run([ADMIN, *args], env=self.env, check=check,
                           capture_output=True, text=True)
        self.give_back()
        return r

    def give_back(self):
        """Files a test wrote into the stack's data as root (planted blobs,
        rows) go to the programs' user, as mediarepo-run left the rest.
        run/ stays as it is: the web server's spool directories there
        belong to the web server."""
        if not getattr(self, "apache_user_owns_data", False):
            return
        run = os.path.join(self.data_dir, "run")
        user, group = self.run_owner.split(":")
        uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
        for d, dirs, files in os.walk(self.data_dir):
            if d == run:
                dirs[:] = []
                continue
            # lchown: a link planted by a test is not followed.
            for name in [d] + [os.path.join(d, f) for f in files]:
                os.lchown(name, uid, gid)
        self._chown_outside_paths()

    def _chown_outside_paths(self):
        """A database or media store the config puts outside DATA_DIR
        (two stacks sharing one) is not handed to www-data by
        mediarepo-run: hand it over here, the database's directory too
        (SQLite writes its journal files next to it)."""
        if not hasattr(self, "outside_paths"):
            data = os.path.realpath(self.data_dir) + "/"
            self.outside_paths = []
            for key, whole_dir in (("database_path", True),
                                   ("media_store_path", False)):
                path = os.path.realpath(subprocess.run(
                    [ADMIN, "config-get", key], env=self.env, check=True,
                    capture_output=True, text=True).stdout.strip())
                if whole_dir:
                    path = os.path.dirname(path)
                if not (path + "/").startswith(data):
                    self._let_apache_user_in(path)
                    self.outside_paths.append(path)
        for path in self.outside_paths:
            subprocess.run(["chown", "-R", self.run_owner, path],
                           check=True)

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
                          data=data, headers=headers, timeout=30,
                          verify=self.verify)
        assert r.status_code == 200, r.text
        uri = r.json()["content_uri"]
        assert uri.startswith("mxc://%s/" % self.server_name)
        return uri[len("mxc://%s/" % self.server_name):]

    def child_pids(self, program=None):
        """PIDs of the FastCGI programs running now with this stack's
        config (of one program, when named), and of their supervisors
        (mediarepo-spawn, from their pid files) when no program is named.

        Programs come and go (mod_fcgid starts them on demand,
        mediarepo-spawn replaces dead ones), so they are found in /proc."""
        pids = self._program_pids(program)
        run = os.path.join(self.data_dir, "run")
        if program is None and os.path.isdir(run):
            for name in os.listdir(run):
                if name.endswith(".pids"):
                    with open(os.path.join(run, name)) as f:
                        pids += [int(p) for p in f.read().split()]
        return pids

    def _program_pids(self, program=None):
        bin_dir = os.path.realpath(os.path.join(TOP, "cgi-bin")) + "/"
        if program:
            bin_dir += program + ".fcgi"
        want = b"MEDIAREPO_CONFIG=" + self.config.encode()
        pids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                exe = os.readlink("/proc/%s/exe" % name)
                with open("/proc/%s/environ" % name, "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if exe.startswith(bin_dir) and want in env:
                pids.append(int(name))
        return pids

    def stop(self):
        if self in LIVE_STACKS:
            LIVE_STACKS.remove(self)
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

    def make(extra_config=None, procs=2, **kw):
        s = Stack(tmp_path_factory.mktemp("stack"), extra_config, procs,
                  **kw)
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.stop()
