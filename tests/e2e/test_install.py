"""make install into a temp DESTDIR: the tree an operator gets, and that the
installed mediarepo-run serves from it (PREFIX is the DESTDIR'd one here,
so the installed files are what runs), and that the installed retention
unit's command purges its media."""
import os
import subprocess

import requests

import unitfile
from conftest import TOP, Stack

PROGRAMS = ["admin", "config", "create", "download", "federation_download",
            "federation_thumbnail", "keys", "preview_url", "thumbnail",
            "unrecognized", "upload"]


def make_install(dest, prefix="/usr/local"):
    subprocess.run(["make", "-s", "-C", TOP, "install", "DESTDIR=" + dest,
                    "PREFIX=" + prefix], check=True, capture_output=True)


def test_install_tree(tmp_path):
    dest = str(tmp_path / "root")
    make_install(dest)
    p = dest + "/usr/local"
    for name in PROGRAMS:
        f = "%s/lib/mediarepo/%s.fcgi" % (p, name)
        assert os.access(f, os.X_OK), f
    for tool in ["mediarepo-admin", "mediarepo-run", "mediarepo-spawn"]:
        assert os.access("%s/bin/%s" % (p, tool), os.X_OK), tool
    share = p + "/share/mediarepo"
    assert os.listdir(share + "/sql")
    for conf in ["lighttpd.conf.in", "apache2.conf.in", "nginx.conf.in",
                 "errors/status-404.html", "systemd/mediarepo@.service.in"]:
        assert os.path.isfile(share + "/httpd-conf/" + conf), conf
    with open(p + "/lib/systemd/system/mediarepo@.service") as f:
        unit = f.read()
    assert "@" not in unit.replace("%i", "").replace("mediarepo@", "")
    assert "/usr/local/bin/mediarepo-spawn -s /run/mediarepo/%i.sock" in unit
    assert "/usr/local/lib/mediarepo/%i.fcgi" in unit
    assert "MEDIAREPO_CONFIG=/etc/mediarepo/mediarepo.conf" in unit
    # Retention, daily, by the installed admin tool.
    with open(p + "/lib/systemd/system/mediarepo-purge-expired.service") as f:
        unit = f.read()
    assert "ExecStart=/usr/local/bin/mediarepo-admin purge-expired" in unit
    assert "MEDIAREPO_CONFIG=/etc/mediarepo/mediarepo.conf" in unit
    assert "@" not in unit
    with open(p + "/lib/systemd/system/mediarepo-purge-expired.timer") as f:
        timer = f.read()
    assert "OnCalendar=daily" in timer and "WantedBy=timers.target" in timer
    # Garbage collection, weekly, likewise.
    with open(p + "/lib/systemd/system/mediarepo-gc.service") as f:
        unit = f.read()
    assert "ExecStart=/usr/local/bin/mediarepo-admin gc\n" in unit
    assert "MEDIAREPO_CONFIG=/etc/mediarepo/mediarepo.conf" in unit
    assert "@" not in unit
    with open(p + "/lib/systemd/system/mediarepo-gc.timer") as f:
        timer = f.read()
    assert "OnCalendar=weekly" in timer and "WantedBy=timers.target" in timer
    conf = dest + "/etc/mediarepo/mediarepo.conf"
    with open(conf) as f:
        text = f.read()
    assert "media_store_path = /var/lib/mediarepo/media_store" in text
    assert "database_path = /var/lib/mediarepo/mediarepo.db" in text
    assert "runtime_dir = /run/mediarepo" in text
    assert os.path.isdir(dest + "/var/lib/mediarepo/media_store")
    # The example config is valid: the installed admin tool reads it.
    r = subprocess.run([p + "/bin/mediarepo-admin", "-c", conf,
                        "config-get", "server_name"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "example.org"


def test_install_keeps_an_existing_config(tmp_path):
    dest = str(tmp_path / "root")
    os.makedirs(dest + "/etc/mediarepo")
    conf = dest + "/etc/mediarepo/mediarepo.conf"
    with open(conf, "w") as f:
        f.write("server_name = mine.example\n")
    make_install(dest)
    with open(conf) as f:
        assert f.read() == "server_name = mine.example\n"


def test_installed_run_serves(tmp_path, monkeypatch):
    """The installed mediarepo-run finds the installed programs and
    configs (not the checkout's) and serves with them."""
    dest = str(tmp_path / "root")
    make_install(dest)
    import conftest
    monkeypatch.setattr(conftest, "RUN", dest + "/usr/local/bin/mediarepo-run")
    s = Stack(tmp_path / "stack",
              ["media_retention_local_media_lifetime = 1s"])
    try:
        mid = s.upload(b"installed", "text/plain")
        r = requests.get(s.url("/_matrix/media/v3/download/%s/%s" %
                               (s.server_name, mid)), timeout=10)
        assert r.content == b"installed"
        with open(os.path.join(s.data_dir, "run",
                               {"lighttpd": "lighttpd.conf",
                                "apache": "apache2.conf",
                                "nginx": "nginx.conf"}[s.webserver])) as f:
            assert dest + "/usr/local/" in f.read()
        # Retention: the staged unit's command, found under DESTDIR.
        unitfile.check_retention(
            s, dest + "/usr/local/lib/systemd/system/"
            "mediarepo-purge-expired.service", mid, root=dest)
        # Garbage collection: the same, with the gc unit.
        unitfile.check_gc(
            s, dest + "/usr/local/lib/systemd/system/mediarepo-gc.service",
            root=dest)
    finally:
        s.stop()
