"""matrix-js-sdk (the SDK behind Element) as a real client of the stack.

js/sdk_roundtrip.mjs uploads with uploadContent, builds URLs with
mxcUrlToHttp (the authenticated form, which carries allow_redirect=true,
and the legacy one) and fetches them; this test runs it with node and
checks bytes, types and auth. The SDK is installed from js/package-lock.json
by `make e2e-test` (npm ci).
"""
import hashlib
import json
import os
import shutil
import subprocess

import pytest
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, "js")
SCRIPT = os.path.join(JS, "sdk_roundtrip.mjs")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or
    not os.path.isdir(os.path.join(JS, "node_modules", "matrix-js-sdk")),
    reason="node or matrix-js-sdk missing (make e2e-test runs npm ci)")


@pytest.fixture(scope="module")
def result(stack, tmp_path_factory):
    png = tmp_path_factory.mktemp("js") / "picture.png"
    Image.new("RGB", (200, 100), (200, 30, 90)).save(png)
    user = "@admin:" + stack.server_name
    p = subprocess.run(["node", SCRIPT, stack.base, stack.token, user,
                        str(png)], cwd=JS, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["png"] = png.read_bytes()
    return out


def by_name(result, name):
    return next(f for f in result["files"] if f["name"] == name)


def test_sdk_is_the_node20_line(result):
    assert result["sdk_version"].startswith("36."), result["sdk_version"]


def test_upload_gives_our_mxc(stack, result):
    for f in result["files"]:
        assert f["content_uri"].startswith("mxc://%s/" % stack.server_name)


def test_authenticated_url_round_trip(stack, result):
    f = by_name(result, "hello from js-sdk.txt")
    a = f["authenticated"]
    # Element's URL: the v1 route with allow_redirect=true, which we ignore.
    assert a["url"].startswith(stack.base + "/_matrix/client/v1/media/"
                               "download/")
    assert "allow_redirect=true" in a["url"]
    assert a["status"] == 200, a
    assert a["sha256"] == f["sha256"]
    assert a["length"] == f["length"]
    assert a["content_type"] == "text/plain"
    assert "hello from js-sdk.txt" in a["content_disposition"]
    # Without the token the authenticated URL is refused.
    n = f["authenticated_without_token"]
    assert n["status"] == 401
    assert json.loads(n["text"])["errcode"] == "M_MISSING_TOKEN"


def test_legacy_url_round_trip(stack, result):
    f = by_name(result, "hello from js-sdk.txt")
    g = f["legacy"]
    assert g["url"].startswith(stack.base + "/_matrix/media/v3/download/")
    assert g["status"] == 200, g
    assert g["sha256"] == f["sha256"]
    assert g["content_type"] == "text/plain"


def test_png_round_trip_and_thumbnails(result):
    f = by_name(result, "picture.png")
    assert f["sha256"] == hashlib.sha256(result["png"]).hexdigest()
    for key in ("authenticated", "legacy"):
        assert f[key]["status"] == 200, f[key]
        assert f[key]["sha256"] == f["sha256"]
        assert f[key]["content_type"] == "image/png"
    for key in ("thumbnail_authenticated", "thumbnail_legacy"):
        t = f[key]
        assert "/thumbnail/" in t["url"] and "width=32" in t["url"]
        assert t["status"] == 200, t
        assert t["content_type"] in ("image/jpeg", "image/png")
