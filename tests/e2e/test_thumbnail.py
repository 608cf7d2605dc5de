"""Thumbnails (spec.md 2.8, 2.12; MSC2705 animated thumbnails) through the
real stack: every prefix, size selection among the pre-generated sizes,
crop/scale semantics, the original served when it already fits, output
formats, EXIF orientation, animation, quality against Pillow, headers and
caching, errors, dynamic thumbnails and their per-media cap, regeneration
of a lost blob, pre-generation at upload, and mediarepo-admin thumbnail.

Every fixture image is built with Pillow at test time (imgfixtures.py).
"""
import hashlib
import io
import os
import re
import threading
import time

import pytest
import requests
from PIL import Image

import imgfixtures as F
from conftest import Stack

LEGACY_PREFIXES = [
    "/_matrix/media/r0",
    "/_matrix/media/v1",
    "/_matrix/media/v3",
    "/_matrix/client/r0/media",
    "/_matrix/client/unstable/org.matrix.msc1902/media",
]
LEGACY = "/_matrix/media/v3"
V1 = "/_matrix/client/v1/media"
PREFIXES = LEGACY_PREFIXES + [V1]

CSP = ("sandbox; default-src 'none'; script-src 'none'; plugin-types "
       "application/pdf; style-src 'unsafe-inline'; object-src 'self';")

FORMAT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png",
                "WEBP": "image/webp", "GIF": "image/gif"}
EXT_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
             "webp": "image/webp", "gif": "image/gif"}

# The pre-generated sizes (spec.md 2.8) and what they are for 1000x500.
PREGEN = [(32, 32, "crop"), (96, 96, "crop"), (320, 240, "scale"),
          (640, 480, "scale"), (800, 600, "scale")]


# --- helpers -----------------------------------------------------------------

def thumb_path(s, prefix, media_id, server=None):
    return "%s/thumbnail/%s/%s" % (prefix, server or s.server_name, media_id)


def thumb(s, media_id, width=None, height=None, method=None, animated=None,
          prefix=LEGACY, token=None, headers=None, extra=None, server=None,
          timeout=15):
    """GET a thumbnail; None leaves a parameter out. The v1 prefix gets the
    admin token unless token is given ("" sends none)."""
    params = {}
    for k, v in (("width", width), ("height", height), ("method", method),
                 ("animated", animated)):
        if v is not None:
            params[k] = v
    params.update(extra or {})
    h = dict(headers or {})
    if token is None and prefix == V1:
        token = s.token
    if token:
        h.update(s.auth(token))
    return requests.get(s.url(thumb_path(s, prefix, media_id, server)),
                        params=params, headers=h, timeout=timeout)


def download(s, media_id):
    r = requests.get(s.url("%s/download/%s/%s" % (LEGACY, s.server_name,
                                                   media_id)), timeout=15)
    assert r.status_code == 200, r.text
    return r.content


def assert_matrix_error(r, status, errcode=None):
    if isinstance(status, int):
        status = (status,)
    assert r.status_code in status, (r.status_code, r.text[:300])
    assert r.headers.get("Content-Type", "").startswith("application/json"), \
        r.headers
    body = r.json()
    assert isinstance(body.get("errcode"), str) and \
        body["errcode"].startswith("M_"), body
    assert isinstance(body.get("error"), str), body
    if errcode is not None:
        assert body["errcode"] == errcode, body
    return body


def image_of(r):
    """Checks a 200 thumbnail response (status, type, disposition) and
    returns it decoded (fully loaded) with Pillow."""
    assert r.status_code == 200, (r.status_code, r.text[:300])
    ctype = r.headers.get("Content-Type", "")
    assert ctype in FORMAT_TYPES.values(), ctype
    im = Image.open(io.BytesIO(r.content))
    im.load()
    assert FORMAT_TYPES.get(im.format) == ctype, (im.format, ctype)
    return im


def assert_thumb_disposition(r):
    cd = r.headers.get("Content-Disposition", "")
    m = re.fullmatch(r'inline;\s*filename="thumbnail\.([a-z]+)"', cd.strip())
    assert m, cd
    assert EXT_TYPES.get(m.group(1)) == r.headers["Content-Type"], \
        (cd, r.headers["Content-Type"])


def n_frames(im):
    return getattr(im, "n_frames", 1)


def fit(ow, oh, w, h):
    """The scale-method fit of ow x oh into w x h, never upscaled."""
    s = min(w / ow, h / oh, 1.0)
    return ow * s, oh * s


def assert_scale_result(size, orig, req):
    """A scale thumbnail keeps the aspect, is never upscaled, and is never
    smaller than the fit of the original into the requested box."""
    (w, h), (ow, oh), (rw, rh) = size, orig, req
    assert w <= ow and h <= oh, ("upscaled", size, orig)
    assert abs(w / h - ow / oh) <= 2 * max(ow / oh / h, 1 / w), \
        ("aspect", size, orig)
    fw, fh = fit(ow, oh, rw, rh)
    assert w >= fw - 1 and h >= fh - 1, ("smaller than requested", size,
                                         req, orig)


def blobs(s):
    """Every file in the media store except its temp directory."""
    root = os.path.join(s.data_dir, "media_store")
    out = set()
    for d, dirs, files in os.walk(root):
        if d == root:
            dirs[:] = [x for x in dirs if x != "tmp"]
        for f in files:
            out.add(os.path.join(d, f))
    return out


def sha_name(data):
    return hashlib.sha256(data).hexdigest()


def jpeg(w, h, seed=None, quality=92):
    seed = F.unique_seed() if seed is None else seed
    return F.encode(F.photo(w, h, seed), "JPEG", quality=quality)


# --- fixtures --------------------------------------------------------------------

@pytest.fixture(scope="module")
def wide(stack):
    """A 1000x500 JPEG uploaded once: most size tests use it."""
    data = jpeg(1000, 500, seed=11)
    stack.wide_bytes = data
    return stack.upload(data, "image/jpeg", filename="wide.jpg")


@pytest.fixture(scope="module")
def small_png(stack):
    """A 60x40 RGBA PNG: smaller than every pre-generated size."""
    im = F.photo(60, 40, 5).convert("RGBA")
    im.putalpha(F.alpha_mask(60, 40))
    data = F.encode(im, "PNG")
    return data, stack.upload(data, "image/png", filename="small.png")


@pytest.fixture(scope="module")
def dyn_stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("dyn"), ["dynamic_thumbnails = true"])
    yield s
    s.stop()


# --- routes and auth -----------------------------------------------------------

@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_prefix_serves_a_thumbnail(stack, wide, prefix):
    r = thumb(stack, wide, 96, 96, "crop", prefix=prefix)
    im = image_of(r)
    assert im.size == (96, 96)


@pytest.mark.parametrize("prefix", LEGACY_PREFIXES)
def test_legacy_prefixes_need_no_token(stack, wide, prefix):
    r = thumb(stack, wide, 320, 240, prefix=prefix, token="")
    assert image_of(r).size == (320, 160)


def test_all_prefixes_give_the_same_bytes(stack, wide):
    bodies = {thumb(stack, wide, 320, 240, "scale", prefix=p).content
              for p in PREFIXES}
    assert len(bodies) == 1


def test_v1_without_token_is_401(stack, wide):
    r = thumb(stack, wide, 96, 96, "crop", prefix=V1, token="")
    assert_matrix_error(r, 401, "M_MISSING_TOKEN")


def test_v1_with_unknown_token_is_401(stack, wide):
    r = thumb(stack, wide, 96, 96, "crop", prefix=V1, token="mr_bogus")
    assert_matrix_error(r, 401, "M_UNKNOWN_TOKEN")


def test_v1_allows_guests(stack, wide):
    guest = stack.new_token(guest=True)
    r = thumb(stack, wide, 96, 96, "crop", prefix=V1, token=guest)
    assert image_of(r).size == (96, 96)


@pytest.mark.parametrize("params", [
    {"width": "abc", "height": "96"},
    {"height": "96"},
    {"width": "0", "height": "0", "method": "squash"},
    {},
])
def test_v1_token_is_checked_before_parameters(stack, wide, params):
    url = stack.url(thumb_path(stack, V1, wide))
    r = requests.get(url, params=params, timeout=10)
    assert_matrix_error(r, 401, "M_MISSING_TOKEN")
    r = requests.get(url, params=params, headers=stack.auth("mr_bogus"),
                     timeout=10)
    assert_matrix_error(r, 401, "M_UNKNOWN_TOKEN")


def test_v1_token_is_checked_before_media_lookup(stack):
    r = thumb(stack, "NoSuchMediaId0123456789abcdefgh", 96, 96, "crop",
              prefix=V1, token="")
    assert_matrix_error(r, 401, "M_MISSING_TOKEN")


def test_options_is_204_with_cors(stack, wide):
    r = requests.options(stack.url(thumb_path(stack, V1, wide)), timeout=10)
    assert r.status_code == 204, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == "*"


def test_post_is_405(stack, wide):
    r = requests.post(stack.url(thumb_path(stack, LEGACY, wide)),
                      params={"width": 96, "height": 96}, timeout=10)
    assert_matrix_error(r, 405, "M_UNRECOGNIZED")


# --- size selection (pre-generated sizes, no dynamic thumbnails) -----------------

@pytest.mark.parametrize("req,expect", [
    ((320, 240, "scale"), (320, 160)),
    ((100, 100, "scale"), (320, 160)),     # smallest stored >= request
    ((100, 100, None), (320, 160)),        # method defaults to scale
    ((1, 1, "scale"), (320, 160)),
    ((320, 160, "scale"), (320, 160)),
    ((321, 100, "scale"), (640, 320)),
    ((500, 300, "scale"), (640, 320)),
    ((640, 480, "scale"), (640, 320)),
    ((700, 300, "scale"), (800, 400)),
    ((800, 600, "scale"), (800, 400)),
    ((96, 96, "crop"), (96, 96)),
    ((50, 50, "crop"), (96, 96)),          # next stored crop up
    ((33, 33, "crop"), (96, 96)),
    ((32, 32, "crop"), (32, 32)),
    ((20, 20, "crop"), (32, 32)),
    ((1, 1, "crop"), (32, 32)),
])
def test_size_selection(stack, wide, req, expect):
    r = thumb(stack, wide, *req)
    im = image_of(r)
    assert im.size == expect, (req, im.size)
    assert_thumb_disposition(r)
    assert r.content != stack.wide_bytes
    if req[2] != "crop":
        assert_scale_result(im.size, (1000, 500), req[:2])


def test_default_method_is_scale(stack, wide):
    a = thumb(stack, wide, 100, 100)
    b = thumb(stack, wide, 100, 100, "scale")
    assert image_of(a).size == (320, 160)
    assert a.content == b.content


@pytest.mark.parametrize("req", [
    (1000, 500, "scale"),
    (4000, 3000, "scale"),
    (1000, 500, "crop"),
    (2000, 2000, "crop"),
])
def test_original_served_when_it_fits(stack, wide, req):
    r = thumb(stack, wide, *req)
    assert r.status_code == 200, r.text
    assert r.content == stack.wide_bytes
    assert r.headers["Content-Type"] == "image/jpeg"
    assert r.headers["Content-Disposition"].split(";")[0].strip() == "inline"


def test_request_between_stored_and_original_is_not_smaller(stack, wide):
    """900x700 scale on 1000x500: the fit is 900x450, larger than every
    stored thumbnail (800x400). Serving 800x400 would be smaller than
    requested although the original is not; the answer must be at least
    900 wide (the original, or an exact 900x450)."""
    r = thumb(stack, wide, 900, 700, "scale")
    im = image_of(r)
    assert_scale_result(im.size, (1000, 500), (900, 700))


def test_small_png_original_served_inline(stack, small_png):
    data, mid = small_png
    for req in [(96, 96, "crop"), (320, 240, "scale"), (60, 40, "scale")]:
        r = thumb(stack, mid, *req)
        assert r.status_code == 200, (req, r.text)
        assert r.content == data, req
        assert r.content == download(stack, mid)
        assert r.headers["Content-Type"] == "image/png"
        assert r.headers["Content-Disposition"].split(";")[0].strip() == \
            "inline"


def test_small_png_cropped_smaller_keeps_alpha(stack, small_png):
    _, mid = small_png
    im = image_of(thumb(stack, mid, 32, 32, "crop"))
    assert im.size == (32, 32)
    assert im.format == "PNG" and F.has_alpha(im)


def test_crop_crops_rather_than_squashes(stack, wide):
    """96x96 crop of 1000x500 must look like a square cut from the picture,
    not the whole picture squashed to a square."""
    im = image_of(thumb(stack, wide, 96, 96, "crop"))
    orig = Image.open(io.BytesIO(stack.wide_bytes)).convert("RGB")
    centre = orig.crop((250, 0, 750, 500)).resize((96, 96), F.LANCZOS)
    squash = orig.resize((96, 96), F.LANCZOS)
    assert F.psnr(im, centre) > F.psnr(im, squash) + 3, \
        (F.psnr(im, centre), F.psnr(im, squash))


def test_scale_matches_pillow_lanczos(stack):
    """Quality: a photo-like 640x480 JPEG thumbnailed to 320x240 is within
    30 dB PSNR of Pillow's own LANCZOS resize of the same decode."""
    data = jpeg(640, 480, quality=95)
    mid = stack.upload(data, "image/jpeg")
    im = image_of(thumb(stack, mid, 320, 240, "scale"))
    assert im.size == (320, 240)
    ref = Image.open(io.BytesIO(data)).convert("RGB").resize((320, 240),
                                                              F.LANCZOS)
    assert F.psnr(im, ref) >= 30.0, F.psnr(im, ref)


def test_tall_image_scale(stack):
    """Aspect kept on a portrait original too: 300x900 in 320x240 -> 80x240."""
    mid = stack.upload(jpeg(300, 900), "image/jpeg")
    im = image_of(thumb(stack, mid, 320, 240, "scale"))
    assert im.size == (80, 240)
    im = image_of(thumb(stack, mid, 96, 96, "crop"))
    assert im.size == (96, 96)


# --- output formats per source format -------------------------------------------

@pytest.mark.parametrize("name", list(F.SOURCES))
def test_source_format(stack, name):
    builder, pil_fmt, alpha = F.SOURCES[name]
    if not F.can_make(pil_fmt):
        pytest.skip("no %s encoder here to make the fixture (Pillow %s "
                    "cannot write it and %s is not installed)"
                    % (pil_fmt, Image.__version__, F.TOOLS.get(pil_fmt)))
    data, ctype, ref = builder(400, 200, F.unique_seed())
    mid = stack.upload(data, ctype)

    r = thumb(stack, mid, 96, 96, "crop")
    im = image_of(r)
    assert im.size == (96, 96)
    assert_thumb_disposition(r)

    r = thumb(stack, mid, 320, 240, "scale")
    im = image_of(r)
    assert im.size == (320, 160)
    assert_thumb_disposition(r)
    if alpha:
        assert im.format == "PNG", im.format
        assert F.has_alpha(im), im.mode
    else:
        assert im.format == "JPEG", im.format
    assert n_frames(im) == 1
    want = ref.resize(im.size, F.LANCZOS)
    assert F.coarse_diff(im, want) <= 24, F.coarse_diff(im, want)


def test_png_alpha_is_kept(stack):
    """The transparent right edge stays transparent, the left stays opaque."""
    data, ctype, _ = F.src_png_rgba(400, 200, F.unique_seed())
    mid = stack.upload(data, ctype)
    im = F.to_rgba(image_of(thumb(stack, mid, 320, 240, "scale")))
    a = im.getchannel("A")
    assert a.getpixel((2, 150)) > 240
    assert a.getpixel((im.width - 2, 150)) < 15


# --- EXIF orientation ------------------------------------------------------------

@pytest.mark.parametrize("n", range(1, 9))
def test_exif_orientation(stack, n):
    """Each file displays 800x500 with a red top-left quarter; the stored
    pixels differ (5..8 are 500x800). The thumbnail must be upright."""
    data = F.oriented_jpeg(n, 800, 500)
    mid = stack.upload(data, "image/jpeg")
    im = image_of(thumb(stack, mid, 320, 240, "scale"))
    assert im.size == (320, 200), (n, im.size)
    # The orientation is applied to the pixels, so no tag may remain that
    # would make a viewer turn them again.
    assert im.getexif().get(0x0112, 1) == 1
    assert F.corner_colours(im) == ["red", "blue", "blue", "blue"], n
    im = image_of(thumb(stack, mid, 32, 32, "crop"))
    assert im.size == (32, 32)
    assert im.getexif().get(0x0112, 1) == 1


# --- animation (MSC2705) -------------------------------------------------------------

@pytest.fixture(scope="module")
def animations(stack):
    out = {}
    for kind, build in F.ANIMATIONS.items():
        data, ctype = build(400, 300)
        out[kind] = stack.upload(data, ctype)
    return out


@pytest.mark.parametrize("kind", list(F.ANIMATIONS))
@pytest.mark.parametrize("req", [(320, 240, "scale"), (96, 96, "crop")])
def test_animated_true_gives_animation(stack, animations, kind, req):
    r = thumb(stack, animations[kind], *req, animated="true")
    im = image_of(r)
    assert r.headers["Content-Type"] in ("image/webp", "image/gif"), \
        r.headers["Content-Type"]
    assert_thumb_disposition(r)
    assert im.size == req[:2]
    assert n_frames(im) > 1, n_frames(im)
    # The frames really differ (first frame red, second green).
    im.seek(0)
    first = im.convert("RGB").resize((1, 1), Image.BOX).getpixel((0, 0))
    im.seek(1)
    second = im.convert("RGB").resize((1, 1), Image.BOX).getpixel((0, 0))
    assert first != second


@pytest.mark.parametrize("kind", list(F.ANIMATIONS))
@pytest.mark.parametrize("animated", [None, "false"])
def test_animated_absent_or_false_gives_still(stack, animations, kind,
                                              animated):
    r = thumb(stack, animations[kind], 320, 240, "scale", animated=animated)
    im = image_of(r)
    assert im.size == (320, 240)
    assert n_frames(im) == 1 and not getattr(im, "is_animated", False)
    assert im.format in ("JPEG", "PNG"), im.format
    # First frame: red with a white square.
    r_, g_, b_ = im.convert("RGB").getpixel((5, 5))
    assert r_ > 180 and g_ < 90 and b_ < 90, (r_, g_, b_)


@pytest.mark.parametrize("kind", list(F.ANIMATIONS))
def test_animated_true_is_repeatable(stack, animations, kind):
    a = thumb(stack, animations[kind], 96, 96, "crop", animated="true")
    b = thumb(stack, animations[kind], 96, 96, "crop", animated="true")
    assert a.status_code == b.status_code == 200
    assert a.content == b.content


def test_still_with_animated_true_is_a_still(stack, wide):
    a = thumb(stack, wide, 320, 240, "scale", animated="true")
    b = thumb(stack, wide, 320, 240, "scale", animated="false")
    c = thumb(stack, wide, 320, 240, "scale")
    im = image_of(a)
    assert im.format == "JPEG" and im.size == (320, 160)
    assert n_frames(im) == 1
    assert a.content == b.content == c.content


# --- headers and caching ------------------------------------------------------------

@pytest.mark.parametrize("prefix", [LEGACY, V1])
def test_headers(stack, wide, prefix):
    r = thumb(stack, wide, 96, 96, "crop", prefix=prefix)
    image_of(r)
    h = r.headers
    assert_thumb_disposition(r)
    assert h["Content-Security-Policy"] == CSP
    assert h["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert h["Access-Control-Allow-Origin"] == "*"
    assert re.fullmatch(r'"[^"]+"', h.get("ETag", "")), h.get("ETag")
    assert int(h["Content-Length"]) == len(r.content)


def test_etag_304_and_repeatable_bytes(stack, wide):
    a = thumb(stack, wide, 320, 240, "scale")
    b = thumb(stack, wide, 320, 240, "scale")
    assert a.status_code == b.status_code == 200
    assert a.content == b.content
    etag = a.headers["ETag"]
    assert b.headers["ETag"] == etag
    r = thumb(stack, wide, 320, 240, "scale", headers={"If-None-Match": etag})
    assert r.status_code == 304, r.status_code
    assert r.content == b""
    r = thumb(stack, wide, 320, 240, "scale", headers={"If-None-Match": '"x"'})
    assert r.status_code == 200 and r.content == a.content


def test_etags_differ_between_sizes(stack, wide):
    """A client revalidating one size must not get 304 for another."""
    small = thumb(stack, wide, 96, 96, "crop")
    big = thumb(stack, wide, 320, 240, "scale")
    assert small.headers["ETag"] != big.headers["ETag"]
    r = thumb(stack, wide, 320, 240, "scale",
              headers={"If-None-Match": small.headers["ETag"]})
    assert r.status_code == 200 and r.content == big.content


def test_head_has_headers_and_no_body(stack, wide):
    g = thumb(stack, wide, 96, 96, "crop")
    r = requests.head(stack.url(thumb_path(stack, LEGACY, wide)),
                      params={"width": 96, "height": 96, "method": "crop"},
                      timeout=10)
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["Content-Type"] == g.headers["Content-Type"]
    assert r.headers["ETag"] == g.headers["ETag"]
    assert int(r.headers["Content-Length"]) == len(g.content)


def test_timeout_ms_ignored_for_uploaded_media(stack, wide):
    r = thumb(stack, wide, 96, 96, "crop", extra={"timeout_ms": "0"})
    assert image_of(r).size == (96, 96)


# --- bad requests ---------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"height": "96"},                              # no width
    {"width": "96"},                               # no height
    {},
    {"width": "abc", "height": "96"},
    {"width": "96", "height": "1.5"},
    {"width": "96px", "height": "96"},
    {"width": "", "height": "96"},
    {"width": "0", "height": "96"},
    {"width": "96", "height": "0"},
    {"width": "-96", "height": "96"},
    {"width": "96", "height": "-1"},
    {"width": "100000", "height": "96"},
    {"width": "96", "height": "100000"},
    {"width": "99999999999999999999", "height": "96"},
    {"width": "96", "height": "96", "method": "squash"},
    {"width": "96", "height": "96", "method": ""},
    {"width": "96", "height": "96", "method": "CROP!"},
])
@pytest.mark.parametrize("prefix", [LEGACY, V1])
def test_bad_parameters_are_400(stack, wide, params, prefix):
    h = stack.auth(stack.token) if prefix == V1 else {}
    r = requests.get(stack.url(thumb_path(stack, prefix, wide)),
                     params=params, headers=h, timeout=10)
    assert_matrix_error(r, 400)


@pytest.mark.parametrize("what,data,ctype", [
    ("text", b"just some text, not a picture\n" * 20, "text/plain"),
    ("svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" '
            b'width="500" height="500"><rect width="500" height="500" '
            b'fill="red"/><script>alert(1)</script></svg>', "image/svg+xml"),
    ("svg_as_png", b'<svg xmlns="http://www.w3.org/2000/svg" width="500" '
                   b'height="500"><circle r="200"/></svg>', "image/png"),
    ("empty", b"", "image/png"),
    ("random_as_png", bytes((i * 7919 + 13) % 251 for i in range(5000)),
     "image/png"),
    ("html_as_jpeg", b"<html><body>hi</body></html>", "image/jpeg"),
])
@pytest.mark.parametrize("prefix", [LEGACY, V1])
def test_not_thumbnailable_is_400(stack, what, data, ctype, prefix):
    mid = stack.upload(data, ctype)
    for req in [(96, 96, "crop"), (320, 240, "scale")]:
        r = thumb(stack, mid, *req, prefix=prefix)
        assert_matrix_error(r, 400, "M_UNKNOWN")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_unknown_media_is_404(stack, prefix):
    r = thumb(stack, "NoSuchMediaId0123456789abcdefgh", 96, 96, "crop",
              prefix=prefix)
    assert_matrix_error(r, 404, "M_NOT_FOUND")


@pytest.mark.parametrize("prefix", [LEGACY, V1])
def test_pending_async_media_is_504(stack, prefix):
    user = stack.new_token()
    r = requests.post(stack.url("/_matrix/media/v1/create"),
                      headers=stack.auth(user), json={}, timeout=10)
    assert r.status_code == 200, r.text
    mid = r.json()["content_uri"].rsplit("/", 1)[1]
    t0 = time.monotonic()
    r = thumb(stack, mid, 96, 96, "crop", prefix=prefix,
              extra={"timeout_ms": "500"})
    elapsed = time.monotonic() - t0
    assert_matrix_error(r, 504, "M_NOT_YET_UPLOADED")
    assert elapsed < 5, elapsed
    # Once the bytes arrive, the thumbnail works.
    put = requests.put(stack.url("/_matrix/media/v3/upload/%s/%s" % (
        stack.server_name, mid)), data=jpeg(400, 200),
        headers=dict(stack.auth(user), **{"Content-Type": "image/jpeg"}),
        timeout=30)
    assert put.status_code == 200, put.text
    assert image_of(thumb(stack, mid, 96, 96, "crop", prefix=prefix)).size \
        == (96, 96)


# --- storage: pre-generation and regeneration ------------------------------------

def test_pregenerated_at_upload(stack):
    """A 1000x800 JPEG: the store gains the original plus the 5 sizes of
    spec.md 2.8 at upload, before any thumbnail request."""
    data = jpeg(1000, 800)
    before = blobs(stack)
    mid = stack.upload(data, "image/jpeg")
    deadline = time.monotonic() + 5
    while True:
        new = blobs(stack) - before
        if len(new) >= 6 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    names = {os.path.basename(p) for p in new}
    assert sha_name(data) in names
    assert len(new) == 6, sorted(names)
    # And they are what the requests get: no new files appear.
    for w, h, m in PREGEN:
        image_of(thumb(stack, mid, w, h, m))
    assert blobs(stack) - before == new


def test_lost_thumbnail_blob_is_regenerated(stack):
    data = jpeg(1000, 500)
    before = blobs(stack)
    mid = stack.upload(data, "image/jpeg")
    first = {req: image_of(thumb(stack, mid, *req)).size
             for req in [(320, 240, "scale"), (96, 96, "crop")]}
    thumbs = [p for p in blobs(stack) - before
              if os.path.basename(p) != sha_name(data)]
    assert thumbs, "no thumbnail files found in the media store"
    for p in thumbs:
        os.unlink(p)
    for req, size in first.items():
        r = thumb(stack, mid, *req)
        assert image_of(r).size == size, req
    # The original is untouched.
    assert download(stack, mid) == data


def test_lost_thumbnail_blob_is_regenerated_on_v1(stack):
    data = jpeg(1000, 500)
    before = blobs(stack)
    mid = stack.upload(data, "image/jpeg")
    assert image_of(thumb(stack, mid, 96, 96, "crop", prefix=V1))
    for p in blobs(stack) - before:
        if os.path.basename(p) != sha_name(data):
            os.unlink(p)
    assert image_of(thumb(stack, mid, 96, 96, "crop", prefix=V1)).size == \
        (96, 96)


# --- dynamic thumbnails ----------------------------------------------------------------

@pytest.fixture(scope="module")
def dyn_wide(dyn_stack):
    data = jpeg(1000, 500, seed=12)
    dyn_stack.wide_bytes = data
    return dyn_stack.upload(data, "image/jpeg")


@pytest.mark.parametrize("req,expect", [
    ((150, 100, "scale"), (150, 75)),
    ((150, 100, None), (150, 75)),
    ((900, 700, "scale"), (900, 450)),
    ((200, 100, "crop"), (200, 100)),
    ((150, 150, "crop"), (150, 150)),
    ((96, 96, "crop"), (96, 96)),
    ((320, 240, "scale"), (320, 160)),
])
def test_dynamic_exact_size(dyn_stack, dyn_wide, req, expect):
    a = thumb(dyn_stack, dyn_wide, *req)
    assert image_of(a).size == expect, req
    assert_thumb_disposition(a)
    b = thumb(dyn_stack, dyn_wide, *req)
    assert b.status_code == 200 and b.content == a.content


def test_dynamic_never_upscales(dyn_stack, dyn_wide):
    r = thumb(dyn_stack, dyn_wide, 4000, 3000, "scale")
    assert r.status_code == 200
    assert r.content == dyn_stack.wide_bytes


def test_dynamic_cap_per_media(make_stack):
    s = make_stack(["dynamic_thumbnails = true",
                    "max_thumbnails_per_media = 3"])
    data = jpeg(1000, 500)
    before = blobs(s)
    mid = s.upload(data, "image/jpeg")
    for i in range(10):
        req = (110 + 17 * i, 60 + 9 * i)
        r = thumb(s, mid, *req, "scale")
        im = image_of(r)
        assert_scale_result(im.size, (1000, 500), req)
        if i == 0:      # under the cap: made to measure
            assert im.size == (110, 55)
    new = {os.path.basename(p) for p in blobs(s) - before}
    new.discard(sha_name(data))
    assert len(new) <= 3 + len(PREGEN), len(new)
    # Past the cap, still served (and repeatable).
    a = thumb(s, mid, 123, 77, "scale")
    b = thumb(s, mid, 123, 77, "scale")
    assert_scale_result(image_of(a).size, (1000, 500), (123, 77))
    assert a.content == b.content


def parallel(n, fn):
    out = [None] * n

    def run(i):
        out[i] = fn(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_dynamic_same_new_size_in_parallel(dyn_stack):
    """Eight clients ask at once for a size nobody made yet: all get the
    same bytes."""
    mid = dyn_stack.upload(jpeg(1000, 500), "image/jpeg")
    rs = parallel(8, lambda i: thumb(dyn_stack, mid, 133, 71, "scale"))
    for r in rs:
        assert image_of(r).size == (133, 66) or image_of(r).size == (133, 67)
    assert len({r.content for r in rs}) == 1
    assert len({r.headers["ETag"] for r in rs}) == 1


def generations(s, mid):
    """The sizes of mid that were generated, one per generation, from the
    line each generation leaves in the log."""
    pat = r"thumbnail generated: mxc://%s/%s (\d+x\d+ \w+)" % (
        re.escape(s.server_name), re.escape(mid))
    return re.findall(pat, s.read_log())


def thumb_retrying(s, mid, w, h, method, tries=20):
    """As a Matrix client: a 429 is tried again after retry_after_ms."""
    for _ in range(tries):
        r = thumb(s, mid, w, h, method)
        if r.status_code != 429:
            return r
        time.sleep(r.json().get("retry_after_ms", 500) / 1000)
    return r


def test_one_generation_for_32_identical_requests(make_stack):
    """32 clients ask at once for a new size of one large image: one
    process makes it, the others wait for it (in waiting slots) and are
    served what it stored; nobody makes it twice."""
    s = make_stack(["dynamic_thumbnails = true"], procs=4)
    mid = s.upload(jpeg(3000, 2000), "image/jpeg")
    assert generations(s, mid) == []     # the configured sizes are not
    rs = parallel(32, lambda i: thumb_retrying(s, mid, 211, 97, "crop"))
    for r in rs:
        assert r.status_code == 200, (r.status_code, r.text[:200])
        assert image_of(r).size == (211, 97)
    assert len({r.content for r in rs}) == 1
    assert generations(s, mid) == ["211x97 crop"]
    # Later requests are served from the store.
    assert thumb(s, mid, 211, 97, "crop").content == rs[0].content
    assert generations(s, mid) == ["211x97 crop"]


def test_dynamic_cap_holds_under_parallel_requests(make_stack):
    """Ten distinct sizes asked for at once must not get past the cap
    either (the count and the insert race between processes)."""
    s = make_stack(["dynamic_thumbnails = true",
                    "max_thumbnails_per_media = 3"])
    data = jpeg(1000, 500)
    before = blobs(s)
    mid = s.upload(data, "image/jpeg")
    reqs = [(110 + 17 * i, 60 + 9 * i) for i in range(10)]
    rs = parallel(10, lambda i: thumb(s, mid, *reqs[i], "scale"))
    for req, r in zip(reqs, rs):
        assert_scale_result(image_of(r).size, (1000, 500), req)
    new = {os.path.basename(p) for p in blobs(s) - before}
    new.discard(sha_name(data))
    assert len(new) <= 3 + len(PREGEN), len(new)


# --- mediarepo-admin thumbnail -----------------------------------------------------------

@pytest.mark.parametrize("args,expect", [
    (("96", "96", "crop"), (96, 96)),
    (("320", "240", "scale"), (320, 160)),
    (("150", "100", "scale"), (150, 75)),
    (("200", "100", "crop"), (200, 100)),
])
def test_admin_thumbnail(stack, tmp_path, args, expect):
    src = tmp_path / "in.jpg"
    src.write_bytes(jpeg(1000, 500))
    out = tmp_path / "out.img"
    p = stack.admin("thumbnail", str(src), str(out), *args, check=False)
    assert p.returncode == 0, (p.stdout, p.stderr)
    im = Image.open(out)
    im.load()
    assert im.size == expect
    assert im.format in FORMAT_TYPES


def test_admin_thumbnail_refuses_non_image(stack, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"not an image\n")
    out = tmp_path / "out.img"
    p = stack.admin("thumbnail", str(src), str(out), "96", "96", "crop",
                    check=False)
    assert p.returncode != 0
    assert p.stderr.strip()
    assert not out.exists() or out.stat().st_size == 0


def test_admin_thumbnail_repeat(stack, tmp_path):
    """--repeat N: the same thumbnail N more times in one process (the
    steady-state figure bench/thumbnail reports), timed per round."""
    src = tmp_path / "in.jpg"
    src.write_bytes(jpeg(1000, 500))
    out = tmp_path / "out.img"
    p = stack.admin("thumbnail", "--repeat", "3", str(src), str(out), "96",
                    "96", "crop", check=False)
    assert p.returncode == 0, (p.stdout, p.stderr)
    lines = p.stdout.splitlines()
    assert lines[0].startswith(str(out) + " 96x96 "), lines
    assert re.fullmatch(r"repeat 3: \d+\.\d\d ms wall, \d+\.\d\d ms cpu "
                        r"per round", lines[1]), lines
    assert len(lines) == 2
    assert Image.open(out).size == (96, 96)
    outdir = tmp_path / "all"
    outdir.mkdir()
    p = stack.admin("thumbnail-all", "--repeat", "2", str(src), str(outdir),
                    check=False)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.splitlines()[-1].startswith("repeat 2: ")
    for bad in ("0", "x", "-1"):
        p = stack.admin("thumbnail", "--repeat", bad, str(src), str(out),
                        "96", "96", "crop", check=False)
        assert p.returncode == 2 and "usage" in p.stderr, (bad, p.stderr)
