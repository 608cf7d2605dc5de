"""This server's signing key: the admin commands and /_matrix/key/v2/server."""
import os
import stat
import time

import requests
import signedjson.key
import signedjson.sign

SPEC_SEED_LINE = "ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1\n"
SPEC_PUBLIC = "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI"


def test_published_key_is_self_signed(stack):
    r = requests.get(stack.url("/_matrix/key/v2/server"), timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["server_name"] == stack.server_name
    (key_id, entry), = body["verify_keys"].items()
    assert key_id.startswith("ed25519:")
    now_ms = time.time() * 1000
    assert now_ms + 3600e3 < body["valid_until_ts"] <= now_ms + 86400e3 + 60e3
    verify_key = signedjson.key.decode_verify_key_base64(
        "ed25519", key_id.split(":", 1)[1], entry["key"])
    signedjson.sign.verify_signed_json(body, stack.server_name, verify_key)
    # The published key is the one the admin tool shows.
    shown = stack.admin("show-key").stdout.split()
    assert shown == [key_id, entry["key"]]


def test_key_lookup_by_key_id(stack):
    """The deprecated /_matrix/key/v2/server/{keyId}, which older
    servers (Synapse 1.67 as a notary) still ask: the same answer, routed
    to keys.fcgi by every web server."""
    whole = requests.get(stack.url("/_matrix/key/v2/server"), timeout=10)
    key_id = next(iter(whole.json()["verify_keys"]))
    for path in ("/_matrix/key/v2/server/" + key_id.replace(":", "%3A"),
                 "/_matrix/key/v2/server/" + key_id,
                 "/_matrix/key/v2/server/ed25519%3Aunknown"):
        r = requests.get(stack.url(path), timeout=10)
        assert r.status_code == 200, (path, r.text)
        body = r.json()
        assert body["server_name"] == stack.server_name
        assert body["verify_keys"] == whole.json()["verify_keys"]
        verify_key = signedjson.key.decode_verify_key_base64(
            "ed25519", key_id.split(":", 1)[1],
            body["verify_keys"][key_id]["key"])
        signedjson.sign.verify_signed_json(body, stack.server_name,
                                           verify_key)
    # Deeper paths are not key lookups.
    r = requests.get(stack.url("/_matrix/key/v2/server/a/b"), timeout=10)
    assert r.status_code == 404 and r.json()["errcode"] == "M_UNRECOGNIZED"


def test_tampered_key_answer_does_not_verify(stack):
    body = requests.get(stack.url("/_matrix/key/v2/server"), timeout=10).json()
    (key_id, entry), = body["verify_keys"].items()
    verify_key = signedjson.key.decode_verify_key_base64(
        "ed25519", key_id.split(":", 1)[1], entry["key"])
    body["valid_until_ts"] += 1
    try:
        signedjson.sign.verify_signed_json(body, stack.server_name,
                                           verify_key)
    except signedjson.sign.SignatureVerifyException:
        return
    raise AssertionError("a changed answer still verified")


def test_import_key_takes_a_synapse_key(make_stack, tmp_path):
    s = make_stack()
    key_file = tmp_path / "homeserver.signing.key"
    key_file.write_text(SPEC_SEED_LINE)
    # An existing key is never replaced without --force.
    r = s.admin("import-key", str(key_file), check=False)
    assert r.returncode == 1
    assert "exists" in r.stderr
    r = s.admin("import-key", str(key_file), "--force")
    assert r.stdout.split() == ["ed25519:1", SPEC_PUBLIC]
    assert s.admin("show-key").stdout.split() == ["ed25519:1", SPEC_PUBLIC]
    path = s.admin("config-get", "signing_key_path").stdout.strip()
    assert os.stat(path).st_mode & 0o077 == 0


def test_import_key_refuses_a_bad_file(make_stack, tmp_path):
    s = make_stack()
    bad = tmp_path / "bad.key"
    bad.write_text("ed25519 1 not-base64!!\n")
    r = s.admin("import-key", str(bad), "--force", check=False)
    assert r.returncode == 1
    assert "seed" in r.stderr


def test_generate_key_never_overwrites(stack):
    before = stack.admin("show-key").stdout
    r = stack.admin("generate-key", check=False)
    assert r.returncode == 1
    assert stack.admin("show-key").stdout == before


def test_import_key_never_writes_through_a_symlink(make_stack, tmp_path):
    """import-key writes a new 0600 file and renames it into place: a
    symlink at the key's path is replaced, and what it points to is never
    written (issue 10, point 6)."""
    s = make_stack()
    path = s.admin("config-get", "signing_key_path").stdout.strip()
    key_file = tmp_path / "homeserver.signing.key"
    key_file.write_text(SPEC_SEED_LINE)

    # A dangling link: something is there, so no import without --force,
    # and the file it names is not created (generate-key neither).
    planted = tmp_path / "planted"
    os.unlink(path)
    os.symlink(planted, path)
    r = s.admin("import-key", str(key_file), check=False)
    assert r.returncode == 1 and "exists" in r.stderr, r.stderr
    assert s.admin("generate-key", check=False).returncode == 1
    assert not os.path.lexists(planted)

    # A link to a readable file: --force replaces the link itself.
    victim = tmp_path / "victim"
    victim.write_text("not a key\n")
    os.chmod(victim, 0o644)
    os.unlink(path)
    os.symlink(victim, path)
    r = s.admin("import-key", str(key_file), "--force")
    assert r.stdout.split() == ["ed25519:1", SPEC_PUBLIC]
    assert victim.read_text() == "not a key\n"
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o644
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(path) as f:
        assert f.read() == SPEC_SEED_LINE
    assert s.admin("show-key").stdout.split() == ["ed25519:1", SPEC_PUBLIC]
    # No temporary file is left beside the key.
    d, base = os.path.split(path)
    assert [n for n in os.listdir(d) if n.startswith(base + ".")] == []
