"""make deb: the package builds, lintian finds no error in it, it installs
with dpkg -i on this machine (making the signing key and the retention
timer's enablement), the installed mediarepo-run serves an upload, its
download and /metrics from /usr, and dpkg --purge takes it all away
again.

Skipped unless run as root on a machine without mediarepo installed (by
dpkg or with a config in /etc/mediarepo): the test must not touch an
operator's installation."""
import glob
import os
import pwd
import grp
import shutil
import subprocess

import pytest
import requests

import conftest
import unitfile
from conftest import TOP, Stack

CONF = "/etc/mediarepo/mediarepo.conf"
KEY = "/var/lib/mediarepo/signing.key"
UNITS = "/usr/lib/systemd/system/"
TIMER = "mediarepo-purge-expired.timer"
TIMER_LINK = "/etc/systemd/system/timers.target.wants/" + TIMER
GC_TIMER = "mediarepo-gc.timer"
GC_TIMER_LINK = "/etc/systemd/system/timers.target.wants/" + GC_TIMER


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def installed():
    r = run("dpkg-query", "-W", "-f=${Status}", "mediarepo")
    return r.returncode == 0 and "ok installed" in r.stdout


def installed_programs(config):
    """PIDs of programs run from /usr/lib/mediarepo with this config."""
    want = b"MEDIAREPO_CONFIG=" + config.encode()
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            exe = os.readlink("/proc/%s/exe" % pid)
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if exe.startswith("/usr/lib/mediarepo/") and want in env:
            pids.append(int(pid))
    return pids


@pytest.fixture(scope="module")
def deb():
    if os.geteuid() != 0:
        pytest.skip("dpkg -i needs root")
    for tool in ("dpkg-deb", "dpkg-shlibdeps", "lintian"):
        if shutil.which(tool) is None:
            pytest.skip("%s is missing (make deps)" % tool)
    if installed() or os.path.exists("/etc/mediarepo"):
        pytest.skip("mediarepo is installed here already")
    r = run("make", "-s", "-C", TOP, "deb")
    assert r.returncode == 0, r.stdout + r.stderr
    arch = run("dpkg", "--print-architecture").stdout.strip()
    debs = glob.glob(os.path.join(TOP, "mediarepo_*_%s.deb" % arch))
    assert debs, "make deb made no package"
    return max(debs, key=os.path.getmtime)


def test_lintian_finds_no_error(deb):
    r = run("lintian", "--tag-display-limit", "0", deb)
    errors = [ln for ln in r.stdout.splitlines() if ln.startswith("E:")]
    assert errors == [], r.stdout
    assert r.returncode == 0, r.stdout + r.stderr


def test_fields_and_contents(deb):
    fields = run("dpkg-deb", "-f", deb).stdout
    depends = [ln for ln in fields.splitlines()
               if ln.startswith("Depends:")][0]
    # What the programs link (dpkg-shlibdeps) and what they dlopen.
    for pkg in ("libc6", "libfcgi0ldbl", "libsqlite3-0", "libsodium23",
                "libcjson1", "libgd3"):
        assert pkg in depends, depends
    files = run("dpkg-deb", "-c", deb).stdout
    for path in ("./usr/lib/mediarepo/upload.fcgi",
                 "./usr/bin/mediarepo-admin", "./usr/bin/mediarepo-spawn",
                 "./usr/bin/mediarepo-run", "." + CONF,
                 "./usr/share/mediarepo/httpd-conf/lighttpd.conf.in",
                 "./usr/share/mediarepo/httpd-conf/nginx.conf.in",
                 "./usr/share/mediarepo/httpd-conf/apache2.conf.in",
                 "./usr/lib/systemd/system/mediarepo@.service",
                 "./usr/lib/systemd/system/mediarepo-purge-expired.service",
                 "./usr/lib/systemd/system/" + TIMER,
                 "./usr/lib/systemd/system/mediarepo-gc.service",
                 "./usr/lib/systemd/system/" + GC_TIMER,
                 "./usr/share/doc/mediarepo/copyright"):
        assert " %s\n" % path in files, path
    assert "./var/" not in files    # made by postinst, never dpkg's


def test_install_serve_purge(deb, tmp_path, monkeypatch):
    had_var = os.path.exists("/var/lib/mediarepo")
    had_link = os.path.lexists(TIMER_LINK)
    had_gc_link = os.path.lexists(GC_TIMER_LINK)
    s = None
    try:
        r = run("dpkg", "-i", deb, env=dict(os.environ,
                                            DEBIAN_FRONTEND="noninteractive"))
        assert r.returncode == 0, r.stdout + r.stderr
        assert installed()
        conffiles = run("dpkg-query", "-W", "-f=${Conffiles}",
                        "mediarepo").stdout
        assert CONF in conffiles
        # postinst: the programs' user, in the web server's group, and
        # the data directory it owns.
        user = pwd.getpwnam("mediarepo")
        assert grp.getgrgid(user.pw_gid).gr_name == "www-data"
        st = os.stat("/var/lib/mediarepo/media_store")
        assert st.st_uid == user.pw_uid and st.st_mode & 0o777 == 0o750
        r = run("/usr/bin/mediarepo-admin", "-c", CONF, "config-get",
                "media_store_path")
        assert r.stdout.strip() == "/var/lib/mediarepo/media_store", r
        # The server's key, made as the programs' user, readable by no one
        # else; the admin tool reads it back.
        st = os.stat(KEY)
        assert st.st_uid == user.pw_uid and st.st_mode & 0o077 == 0, st
        r = run("/usr/bin/mediarepo-admin", "-c", CONF, "show-key")
        assert r.returncode == 0 and "ed25519:" in r.stdout, r
        # The daily retention run: its units, enabled for timers.target.
        with open(UNITS + "mediarepo-purge-expired.service") as f:
            unit = f.read()
        assert "ExecStart=/usr/bin/mediarepo-admin purge-expired" in unit
        assert "User=" not in unit    # root: the tool drops to the owner
        with open(UNITS + TIMER) as f:
            assert "OnCalendar=daily" in f.read()
        assert os.path.realpath(TIMER_LINK) == UNITS + TIMER
        # And the weekly garbage collection.
        with open(UNITS + "mediarepo-gc.service") as f:
            assert "ExecStart=/usr/bin/mediarepo-admin gc\n" in f.read()
        with open(UNITS + GC_TIMER) as f:
            assert "OnCalendar=weekly" in f.read()
        assert os.path.realpath(GC_TIMER_LINK) == UNITS + GC_TIMER

        # The installed tools, found from /usr, serve from a temp DATA_DIR.
        monkeypatch.setattr(conftest, "RUN", "/usr/bin/mediarepo-run")
        monkeypatch.setattr(conftest, "ADMIN", "/usr/bin/mediarepo-admin")
        s = Stack(tmp_path / "stack",
                  ["media_retention_local_media_lifetime = 1s"])
        mid = s.upload(b"from the package", "text/plain")
        r = requests.get(s.url("/_matrix/media/v3/download/%s/%s" %
                               (s.server_name, mid)), timeout=10)
        assert r.status_code == 200 and r.content == b"from the package"
        assert requests.get(s.url("/health"), timeout=10).text == "OK"
        r = requests.get(s.url("/metrics"), timeout=10)
        assert r.status_code == 200, r.text
        assert ('mediarepo_http_requests_total{program="upload",'
                'method="POST",status="200"} 1\n') in r.text
        # The programs that answered are the package's.
        assert installed_programs(s.config), "no program from /usr/lib"

        # Retention as the timer would run it: the installed unit's
        # ExecStart, as its user, on this stack's config (1 s lifetime).
        unitfile.check_retention(s, UNITS + "mediarepo-purge-expired.service",
                                 mid)
        unitfile.check_gc(s, UNITS + "mediarepo-gc.service")
    finally:
        if s is not None:
            s.stop()
        r = run("dpkg", "--purge", "mediarepo")
        if not had_var and os.path.isdir("/var/lib/mediarepo"):
            shutil.rmtree("/var/lib/mediarepo")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not installed()
    assert not os.path.exists(CONF)
    assert not os.path.exists("/usr/bin/mediarepo-run")
    assert not os.path.exists("/usr/lib/mediarepo")
    # Nothing of ours is left: the key postinst made, the timer's link.
    assert not os.path.exists(KEY)
    assert os.path.lexists(TIMER_LINK) == had_link
    assert os.path.lexists(GC_TIMER_LINK) == had_gc_link
