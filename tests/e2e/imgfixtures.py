"""Image builders for the thumbnail e2e tests: every fixture is made at test
time with Pillow (or by hand, byte by byte, for the hostile ones), so no
binary is committed and each file is exactly what its name says.

Needs Debian's python3-pil, which only /usr/bin/python3 sees.
"""
import io
import itertools
import math
import os
import random
import shutil
import struct
import subprocess
import tempfile
import zlib

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

LANCZOS = getattr(Image, "Resampling", Image).LANCZOS
_T = getattr(Image, "Transpose", Image)

_seq = itertools.count(1)


def unique_seed():
    """A fresh seed, so two fixtures never share bytes (the store
    deduplicates identical blobs, which would upset file counts)."""
    return next(_seq) * 7919 + random.randrange(1 << 30)


# --- pictures ---------------------------------------------------------------

def photo(w, h, seed=0, blur=1.2):
    """A smooth photo-like RGB picture: three different gradients, soft
    shapes, no two channels alike (so channel swaps and flips show)."""
    rnd = random.Random(seed)
    lin = Image.linear_gradient("L")
    rad = Image.radial_gradient("L")
    r = lin.rotate(90).resize((w, h))            # dark left .. bright right
    g = rad.resize((w, h))                       # bright rim, dark centre
    b = lin.resize((w, h)).point(lambda v: 40 + v * 3 // 5)   # top to bottom
    im = Image.merge("RGB", (r, g, b))
    d = ImageDraw.Draw(im)
    for _ in range(14):
        x, y = rnd.randrange(w), rnd.randrange(h)
        s = rnd.randrange(max(4, w // 20), max(5, w // 5))
        col = tuple(rnd.randrange(256) for _ in range(3))
        if rnd.random() < 0.5:
            d.rectangle((x, y, x + s, y + s * 2 // 3), fill=col)
        else:
            d.ellipse((x, y, x + s, y + s), fill=col)
    if blur:
        im = im.filter(ImageFilter.GaussianBlur(blur))
    return im


def alpha_mask(w, h):
    """Opaque left, fading to fully transparent on the right, with a
    transparent hole: has alpha in every sense a sniffer might check."""
    a = Image.linear_gradient("L").rotate(-90).resize((w, h))  # 255 left
    d = ImageDraw.Draw(a)
    d.ellipse((w // 8, h // 4, w // 8 + h // 2, h // 4 + h // 2), fill=0)
    return a


def encode(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header(data):
    """(width, height, bit depth, colour type) from a PNG's IHDR."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
    return w, h, depth, ctype


def can_save(fmt):
    Image.init()
    return fmt.upper() in Image.SAVE


# Command-line encoders used when Pillow cannot write the format.
TOOLS = {"AVIF": "avifenc", "HEIF": "heif-enc"}


def can_make(fmt):
    """Pillow writes fmt, or the command-line encoder for it is here."""
    return can_save(fmt) or (fmt in TOOLS and
                             shutil.which(TOOLS[fmt]) is not None)


# --- one fixture per source format ------------------------------------------
#
# Each builder returns (bytes, content type, reference) where reference is
# an RGBA Pillow image of what the file shows (alpha included), made from
# the pixels before encoding, to compare thumbnails against.

def _rgba(im, alpha=None):
    out = im.convert("RGB").convert("RGBA")
    if alpha is not None:
        out.putalpha(alpha)
    return out


def src_jpeg(w, h, seed):
    im = photo(w, h, seed)
    return encode(im, "JPEG", quality=92), "image/jpeg", _rgba(im)


def src_png_rgba(w, h, seed):
    im = photo(w, h, seed).convert("RGBA")
    im.putalpha(alpha_mask(w, h))
    return encode(im, "PNG"), "image/png", im


def src_png_palette_trns(w, h, seed):
    """8-bit palette PNG whose index 255 is transparent (tRNS)."""
    im = photo(w, h, seed).quantize(colors=200)
    pal = im.getpalette()[:600]
    pal += [0, 0, 0] * (256 - len(pal) // 3)
    im.putpalette(pal)
    d = ImageDraw.Draw(im)
    d.rectangle((w // 2, 0, w - 1, h // 2), fill=255)
    data = encode(im, "PNG", transparency=255)
    assert png_header(data)[2:] == (8, 3)
    assert b"tRNS" in data
    table = bytes([255] * 255 + [0])
    alpha = Image.frombytes("L", im.size, im.tobytes().translate(table))
    return data, "image/png", _rgba(im.convert("RGB"), alpha)


def src_png_1bit_trns(w, h, seed):
    """1-bit greyscale PNG where black is transparent (tRNS grey 0)."""
    bw = photo(w, h, seed).convert("L").point(lambda v: 255 if v > 110 else 0)
    bw = bw.convert("1", dither=Image.Dither.NONE
                    if hasattr(Image, "Dither") else Image.NONE)
    data = encode(bw, "PNG", transparency=0)
    assert png_header(data)[2:] == (1, 0), png_header(data)
    assert b"tRNS" in data
    grey = bw.convert("L")
    return data, "image/png", _rgba(grey, grey)


def src_png_16bit(w, h, seed):
    """16-bit greyscale PNG (Pillow writes mode I as 16-bit grey)."""
    grey = photo(w, h, seed).convert("L")
    im16 = grey.convert("I").point(lambda v: v * 257)
    data = encode(im16, "PNG")
    assert png_header(data)[2:] == (16, 0), png_header(data)
    return data, "image/png", _rgba(grey)


def src_jpeg_cmyk(w, h, seed):
    im = photo(w, h, seed)
    data = encode(im.convert("CMYK"), "JPEG", quality=92)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    return data, "image/jpeg", _rgba(im)


def src_gif(w, h, seed):
    im = photo(w, h, seed).convert("P", palette=Image.ADAPTIVE, colors=256)
    return encode(im, "GIF"), "image/gif", _rgba(im)


def src_webp_lossy(w, h, seed):
    im = photo(w, h, seed)
    return encode(im, "WEBP", quality=90), "image/webp", _rgba(im)


def src_webp_lossless_alpha(w, h, seed):
    im = photo(w, h, seed).convert("RGBA")
    im.putalpha(alpha_mask(w, h))
    return encode(im, "WEBP", lossless=True), "image/webp", im


def src_bmp(w, h, seed):
    im = photo(w, h, seed)
    return encode(im, "BMP"), "image/bmp", _rgba(im)


def src_tiff(w, h, seed):
    im = photo(w, h, seed)
    return encode(im, "TIFF"), "image/tiff", _rgba(im)


def src_tiff_lzw(w, h, seed):
    im = photo(w, h, seed)
    return (encode(im, "TIFF", compression="tiff_lzw"), "image/tiff",
            _rgba(im))


def _via_tool(im, argv_fn, suffix):
    """Encodes im with a command-line encoder: argv_fn(in, out) -> argv."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.png"), os.path.join(d, "out" + suffix)
        im.save(src)
        subprocess.run(argv_fn(src, dst), check=True, capture_output=True)
        with open(dst, "rb") as f:
            return f.read()


def src_avif(w, h, seed):
    im = photo(w, h, seed)
    if can_save("AVIF"):
        data = encode(im, "AVIF", quality=90)
    else:   # libavif-bin, which make test installs
        data = _via_tool(im, lambda i, o: ["avifenc", "--min", "10", "--max",
                                           "20", "-s", "10", i, o], ".avif")
    assert data[4:12] in (b"ftypavif", b"ftypavis"), data[:16]
    return data, "image/avif", _rgba(im)


def src_heif(w, h, seed):
    im = photo(w, h, seed)
    if can_save("HEIF"):
        data = encode(im, "HEIF", quality=90)
    else:   # libheif-examples, which make test installs
        data = _via_tool(im, lambda i, o: ["heif-enc", "-q", "90", "-o", o, i],
                         ".heic")
    assert data[4:8] == b"ftyp", data[:16]
    return data, "image/heif", _rgba(im)


# name: (builder, Pillow format needed to write it, has alpha)
SOURCES = {
    "jpeg": (src_jpeg, "JPEG", False),
    "png_rgba": (src_png_rgba, "PNG", True),
    "png_palette_trns": (src_png_palette_trns, "PNG", True),
    "png_1bit_trns": (src_png_1bit_trns, "PNG", True),
    "png_16bit_grey": (src_png_16bit, "PNG", False),
    "jpeg_cmyk": (src_jpeg_cmyk, "JPEG", False),
    "gif": (src_gif, "GIF", False),
    "webp_lossy": (src_webp_lossy, "WEBP", False),
    "webp_lossless_alpha": (src_webp_lossless_alpha, "WEBP", True),
    "bmp": (src_bmp, "BMP", False),
    "tiff": (src_tiff, "TIFF", False),
    "tiff_lzw": (src_tiff_lzw, "TIFF", False),
    "avif": (src_avif, "AVIF", False),     # or avifenc
    "heif": (src_heif, "HEIF", False),     # or heif-enc
}


# --- EXIF orientation ---------------------------------------------------------

# What a viewer does to the stored pixels for each orientation (the table
# of ImageOps.exif_transpose); the builder stores the inverse.
SHOW = {1: None, 2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180,
        4: _T.FLIP_TOP_BOTTOM, 5: _T.TRANSPOSE, 6: _T.ROTATE_270,
        7: _T.TRANSVERSE, 8: _T.ROTATE_90}
STORE = {1: None, 2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180,
         4: _T.FLIP_TOP_BOTTOM, 5: _T.TRANSPOSE, 6: _T.ROTATE_90,
         7: _T.TRANSVERSE, 8: _T.ROTATE_270}

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def oriented_scene(w, h):
    """What every orientation fixture displays: blue, with the top-left
    quarter red."""
    im = Image.new("RGB", (w, h), BLUE)
    ImageDraw.Draw(im).rectangle((0, 0, w // 4 - 1, h // 4 - 1), fill=RED)
    return im


def oriented_jpeg(n, w, h):
    """A JPEG with EXIF orientation n that displays oriented_scene(w, h)."""
    scene = oriented_scene(w, h)
    stored = scene if STORE[n] is None else scene.transpose(STORE[n])
    exif = Image.Exif()
    exif[0x0112] = n
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert shown.size == (w, h), (n, shown.size)
    assert corner_colours(shown)[0] == "red", (n, corner_colours(shown))
    return data


def corner_colours(im):
    """'red', 'blue' or 'other' for the mean of a small patch inset in each
    corner: top-left, top-right, bottom-left, bottom-right."""
    im = im.convert("RGB")
    w, h = im.size
    pw, ph = max(1, w // 10), max(1, h // 10)
    boxes = [(1, 1), (w - 1 - pw, 1), (1, h - 1 - ph), (w - 1 - pw, h - 1 - ph)]
    out = []
    for x, y in boxes:
        patch = im.crop((x, y, x + pw, y + ph)).resize((1, 1), Image.BOX)
        r, g, b = patch.getpixel((0, 0))
        if r > 180 and g < 80 and b < 80:
            out.append("red")
        elif b > 180 and r < 80 and g < 80:
            out.append("blue")
        else:
            out.append("other")
    return out


# --- animations -----------------------------------------------------------------

def anim_frames(w, h, n=4, alpha=False):
    """n frames that differ clearly: a hue per frame and a moving square."""
    frames = []
    for i in range(n):
        col = [(220, 40, 40), (40, 200, 40), (40, 40, 220), (220, 220, 40),
               (200, 40, 200)][i % 5]
        im = Image.new("RGBA" if alpha else "RGB", (w, h), col)
        d = ImageDraw.Draw(im)
        x = (w // 2) * i // max(1, n - 1)
        d.rectangle((x, h // 3, x + w // 4, h // 3 + h // 4),
                    fill=(255, 255, 255))
        frames.append(im)
    return frames


def anim_gif(w, h, n=4):
    f = [x.convert("P", palette=Image.ADAPTIVE) for x in anim_frames(w, h, n)]
    data = encode(f[0], "GIF", save_all=True, append_images=f[1:],
                  duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == n
    return data, "image/gif"


def anim_webp(w, h, n=4):
    f = anim_frames(w, h, n)
    data = encode(f[0], "WEBP", save_all=True, append_images=f[1:],
                  duration=100, loop=0, quality=80)
    assert Image.open(io.BytesIO(data)).n_frames == n
    return data, "image/webp"


def anim_apng(w, h, n=4):
    f = anim_frames(w, h, n)
    data = encode(f[0], "PNG", save_all=True, append_images=f[1:],
                  duration=100, loop=0)
    assert b"acTL" in data
    assert Image.open(io.BytesIO(data)).n_frames == n
    return data, "image/png"


ANIMATIONS = {"gif": anim_gif, "webp": anim_webp, "apng": anim_apng}


# --- comparing pictures ---------------------------------------------------------

def psnr(a, b):
    """PSNR in dB over the RGB bytes of two same-size images (pure Python)."""
    a, b = a.convert("RGB"), b.convert("RGB")
    assert a.size == b.size, (a.size, b.size)
    x, y = a.tobytes(), b.tobytes()
    se = sum((p - q) * (p - q) for p, q in zip(x, y))
    if se == 0:
        return float("inf")
    return 10 * math.log10(255 * 255 * len(x) / se)


def to_rgba(im):
    """Any decoded thumbnail as RGBA, honouring tRNS / palette transparency."""
    if im.mode == "1":
        im = im.convert("L")
    if im.mode in ("I", "I;16", "I;16B"):
        im = im.point(lambda v: v / 257).convert("L")
    return im.convert("RGBA")


def coarse(im, cols=8, rows=4):
    """Premultiplied RGBA cell means on a cols x rows grid, so the colour
    of transparent pixels (which is arbitrary) cannot count."""
    im = to_rgba(im)
    r, g, b, a = im.split()
    # multiply() is x*y/255: premultiply each channel by alpha.
    pm = Image.merge("RGBA", tuple(ImageChops.multiply(ch, a)
                                   for ch in (r, g, b)) + (a,))
    return list(pm.resize((cols, rows), Image.BOX).getdata())


def coarse_diff(a, b, cols=8, rows=4):
    """Largest channel difference between the coarse grids of a and b,
    which must have the same size (premultiplied, 0..255)."""
    ca, cb = coarse(a, cols, rows), coarse(b, cols, rows)
    return max(abs(p - q) for u, v in zip(ca, cb) for p, q in zip(u, v))


def has_alpha(im):
    return im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info


# --- hostile bytes --------------------------------------------------------------

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def png_claiming(w, h, colour_type=2):
    """A PNG whose IHDR says w x h (8-bit RGB) with one tiny IDAT row."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 3 * 16)
    return (PNG_SIG + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) +
            png_chunk(b"IEND", b""))


def zero_deflate(rows, row_len, rows_per_chunk=100):
    """A zlib stream inflating to rows * row_len zero bytes, built from one
    compressed segment repeated (Z_FULL_FLUSH makes segments identical)."""
    assert rows % rows_per_chunk == 0
    chunk = b"\x00" * (row_len * rows_per_chunk)
    c = zlib.compressobj(9)
    first = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    head, seg = first[:2], first[2:]
    assert seg == again
    total = rows * row_len
    adler = ((total % 65521) << 16) | 1     # Adler-32 of zeros: A=1, B=len
    return head + seg * (rows // rows_per_chunk) + b"\x03\x00" + \
        struct.pack(">I", adler)


def png_bomb(w=20000, h=20000):
    """A real w x h RGBA PNG of zeros: ~1.5 MB that inflates to w*h*4."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return (PNG_SIG + png_chunk(b"IHDR", ihdr) +
            png_chunk(b"IDAT", zero_deflate(h, 1 + 4 * w)) +
            png_chunk(b"IEND", b""))


def jpeg_claiming(w, h):
    """A small real baseline JPEG with its SOF0 size patched to w x h."""
    data = bytearray(encode(photo(64, 48, 1), "JPEG", quality=80))
    i = data.find(b"\xff\xc0")
    assert i > 0
    # FF C0 Lh Ll P Yh Yl Xh Xl
    struct.pack_into(">HH", data, i + 5, h, w)
    return bytes(data)


def gif_many_frames(frames=10000, w=500, h=500):
    """GIF89a with a w x h canvas and `frames` 1x1 image descriptors, each
    with the smallest valid LZW data (clear, index 0, end)."""
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", w, h, 0x80, 0, 0)    # 2-colour global table
    out += b"\x00\x00\x00\xff\xff\xff"
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    frame = (b"\x21\xf9\x04\x00\x02\x00\x00\x00" +    # GCE: 20 ms
             b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) +
             # LZW min size 2; codes 4 (clear), 0, 5 (end) at 3 bits
             b"\x02\x02\x44\x01\x00")
    out += frame * frames
    out += b"\x3b"
    return bytes(out)


def _tiff(w, h, pixels, spp, sizes_again=None, unsorted=False):
    """A little-endian TIFF: one deflated strip of `pixels` (w x h, 8-bit,
    spp samples, RGB or RGBA). sizes_again appends a second ImageWidth and
    ImageLength entry; unsorted swaps the first two entries, which makes
    libtiff warn (and decode anyway)."""
    data = zlib.compress(pixels, 9)
    entries = [(256, 4, w), (257, 4, h), (258, 3, 8), (259, 3, 8),
               (262, 3, 2), (273, 4, 0), (277, 3, spp), (278, 4, h),
               (279, 4, len(data))]
    if spp == 4:
        entries.append((338, 3, 2))         # unassociated alpha
    if sizes_again:
        entries += [(256, 4, sizes_again[0]), (257, 4, sizes_again[1])]
    if unsorted:
        entries[0], entries[1] = entries[1], entries[0]
    data_at = 8 + 2 + 12 * len(entries) + 4
    out = b"II*\0" + struct.pack("<IH", 8, len(entries))
    for tag, kind, value in entries:
        value = data_at if tag == 273 else value
        if kind == 3:
            out += struct.pack("<HHIHH", tag, kind, 1, value, 0)
        else:
            out += struct.pack("<HHII", tag, kind, 1, value)
    return out + b"\0\0\0\0" + data


def tiff_repeated_size(w=8000, h=8000, then=(1, 1)):
    """An RGBA TIFF declaring w x h, then `then` in repeated size tags, over
    a real strip of w x h zero pixels (about 250 KB for 8000x8000).
    libtiff decodes the first size; a probe keeping the last saw 1x1."""
    return _tiff(w, h, bytes(w * h * 4), 4, sizes_again=then)


def tiff_unsorted_tags(w, h, seed=0):
    """A real RGB photo as a TIFF whose IFD entries are out of order:
    libtiff writes a warning to stderr and decodes it."""
    return _tiff(w, h, photo(w, h, seed).tobytes(), 3, unsorted=True)
