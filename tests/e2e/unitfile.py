"""Runs an installed systemd oneshot unit's ExecStart the way systemd
would, on a machine without systemd: the command line exactly as the unit
names it, its Environment=, User=, Group= and UMask=. The sandboxing
settings (ProtectSystem=, PrivateTmp=, ...) are systemd's own and are not
imitated."""
import grp
import os
import pwd
import shlex
import subprocess
import time

import requests


def service_settings(path):
    """{key: [values in order]} of the unit's [Service] section."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                out.setdefault(key.strip(), []).append(value.strip())
    return out


def exec_start(path):
    """The unit's one ExecStart= as argv (no systemd prefixes such as
    '-' or '+': those would change what runs)."""
    lines = service_settings(path).get("ExecStart", [])
    assert len(lines) == 1, lines
    argv = shlex.split(lines[0])
    assert argv and argv[0].startswith("/"), lines[0]
    return argv


def run_exec_start(path, env_override=None, root="", user=None):
    """Runs the unit's ExecStart; root: a DESTDIR the named program is
    found under; env_override: variables set over the unit's (each must
    be one the unit sets); user: run as this user, not the unit's
    (for the data's owner where that differs). Switches user only when
    run as root. Returns the CompletedProcess."""
    s = service_settings(path)
    argv = exec_start(path)
    argv[0] = root + argv[0]
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                   "/sbin:/bin"}
    for line in s.get("Environment", []):
        for item in shlex.split(line):
            key, value = item.split("=", 1)
            env[key] = value
    for key, value in (env_override or {}).items():
        assert key in env, "the unit does not set %s" % key
        env[key] = value
    user = user or (s.get("User") or [None])[-1]
    group = (s.get("Group") or [None])[-1]
    umask = int((s.get("UMask") or ["0022"])[-1], 8)

    def become():
        os.umask(umask)
        if os.geteuid() != 0 or user is None:
            return
        pw = pwd.getpwnam(user)
        gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
        os.setgid(gid)
        os.initgroups(user, gid)
        os.setuid(pw.pw_uid)

    return subprocess.run(argv, env=env, capture_output=True, text=True,
                          preexec_fn=become, timeout=120)


def check_retention(s, unit, expiring, root=""):
    """Runs the retention unit's command on stack s (whose config has a
    1 s media_retention_local_media_lifetime): the media expiring goes,
    a protected one stays. root: the DESTDIR of a staged install."""
    def download(media_id):
        return requests.get(s.url("/_matrix/media/v3/download/%s/%s" %
                                  (s.server_name, media_id)), timeout=10)

    kept = s.upload(b"protected from retention", "text/plain")
    s.admin("media", "protect", "mxc://%s/%s" % (s.server_name, kept))
    time.sleep(1.5)
    assert download(expiring).status_code == 200
    # As the unit says: root, which the tool leaves for the data's owner
    # (www-data's under Apache, mediarepo's otherwise), so files it
    # writes stay the programs'.
    r = run_exec_start(unit, {"MEDIAREPO_CONFIG": s.config}, root=root)
    assert r.returncode == 0, r.stdout + r.stderr
    # The database's journal files it made are the programs' to write.
    for name in os.listdir(s.data_dir):
        if name.startswith("mediarepo.db"):
            assert os.lstat(os.path.join(s.data_dir, name)).st_uid != 0, name
    assert "local media: deleted 1 media; removed 1 file" in r.stdout, \
        r.stdout + r.stderr
    assert download(expiring).status_code == 404
    r = download(kept)
    assert r.status_code == 200 and r.content == b"protected from retention"


def check_gc(s, unit, root=""):
    """Runs the garbage collection unit's command on stack s: a blob file
    no row names, older than gc's minimum age, goes; a fresh one and
    the stored media stay. root: the DESTDIR of a staged install."""
    import hashlib
    kept = s.upload(b"named by a row", "text/plain")
    store = s.admin("config-get", "media_store_path").stdout.strip()

    owner = os.stat(store)

    def plant(data, age_s):
        """A blob file as the programs would write it (their user's)."""
        h = hashlib.sha256(data).hexdigest()
        path = store
        for part in (h[:2], h[2:4], h):
            path = os.path.join(path, part)
            if part != h:
                os.makedirs(path, exist_ok=True)
            else:
                with open(path, "wb") as f:
                    f.write(data)
            os.chown(path, owner.st_uid, owner.st_gid)
        old = time.time() - age_s
        os.utime(path, (old, old))
        return path

    orphan = plant(b"left by a process killed before its row", 3 * 3600)
    fresh = plant(b"an upload about to write its row", 0)
    r = run_exec_start(unit, {"MEDIAREPO_CONFIG": s.config}, root=root)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "removed 1 orphaned blob" in r.stdout, r.stdout + r.stderr
    assert not os.path.exists(orphan)
    assert os.path.exists(fresh)
    r = requests.get(s.url("/_matrix/media/v3/download/%s/%s" %
                           (s.server_name, kept)), timeout=10)
    assert r.status_code == 200 and r.content == b"named by a row"
