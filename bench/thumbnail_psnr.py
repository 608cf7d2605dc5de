#!/usr/bin/python3
"""
thumbnail_psnr: the Python half of bench/thumbnail. Makes the photo-like test
JPEG, plays Synapse's Pillow thumbnailer (the baseline that bench/thumbnail
times as a whole process), and scores thumbnails by PSNR against Pillow's
LANCZOS resize of the full-resolution decode.

    thumbnail_psnr.py make OUT.jpg WIDTH HEIGHT          (the smooth photo)
    thumbnail_psnr.py make-detailed OUT.jpg WIDTH HEIGHT (the detailed one)
    thumbnail_psnr.py synapse [--repeat N] IN OUT WIDTH HEIGHT crop|scale
    thumbnail_psnr.py synapse-all [--repeat N] IN OUTDIR  (the five default sizes)
    thumbnail_psnr.py psnr ORIGINAL W:H:METHOD:FILE[=OTHER]...
    thumbnail_psnr.py clock COMMAND [ARG...]

--repeat N: after the first thumbnail (which warms the process, as a
serving one is warm), N more in the same process, timed inside it; prints
"repeat N: W ms wall, C ms cpu per round" as `mediarepo-admin thumbnail
--repeat` does. clock runs COMMAND as a whole process and prints its wall
time and its CPU time (user + system, from wait4) as "W ms wall, C ms cpu".

psnr prints one line per FILE: the PSNR over RGB in dB against the LANCZOS
reference (or against the image file OTHER, when given), or "size WxH" when
the file is not WxH, or "missing". Needs Debian's python3-pil, which only
/usr/bin/python3 sees. Imports nothing but PIL on the timed paths, so the
baseline pays no more start-up than a Pillow script has to.
"""
import sys

from PIL import Image

LANCZOS = getattr(Image, "Resampling", Image).LANCZOS
# Synapse's default thumbnail_sizes, in the order it generates them.
DEFAULT_SIZES = [(32, 32, "crop"), (96, 96, "crop"), (320, 240, "scale"),
                 (640, 480, "scale"), (800, 600, "scale")]


# --- the photo ----------------------------------------------------------

def noise(w, h, amp, rnd):
    """Deterministic uniform noise in [128-amp, 128+amp] ("L" image)."""
    im = Image.frombytes("L", (w, h), rnd.randbytes(w * h))
    return im.point(lambda v: 128 - amp + v * (2 * amp + 1) // 256)


def make(out, w, h):
    """Smooth gradients, cloud-like light and shade, hard-edged shapes,
    small print and 1-px stripes (fine detail), sensor noise and a soft
    half, saved quality 90 with 4:2:0 chroma, as a camera would. The
    content is tame enough at thumbnail size that Pillow's own quality-80
    output stays above 30 dB at 320x240 and 96x96, so the PSNR target
    measures resampling more than JPEG."""
    import random
    from PIL import ImageChops, ImageDraw, ImageFilter
    rnd = random.Random(12)
    grad = Image.linear_gradient("L").resize((w, h), Image.BILINEAR)
    rad = Image.radial_gradient("L").resize((w, h), Image.BILINEAR)
    # Light and shade shared by the three channels, with the roughly 1/f
    # amplitude spectrum of natural scenes: one octave of noise per cell
    # size, larger cells stronger; colour that varies slowly per channel.
    shade = Image.new("L", (w, h), 128)
    for cell, amp in ((512, 50), (256, 36), (128, 26), (64, 18), (32, 13),
                      (16, 9), (8, 7), (4, 7), (2, 6)):
        octave = noise(-(-w // cell), -(-h // cell), amp, rnd)
        shade = ImageChops.add(shade, octave.resize((w, h), Image.BICUBIC),
                               1.0, -128)
    bands = []
    for i, base in enumerate((grad, rad, grad.rotate(180))):
        hue = noise(w // 200, h // 200, 60, rnd).resize((w, h), Image.BICUBIC)
        band = ImageChops.add(base, hue, 2.0, 0)
        bands.append(ImageChops.add(band, shade, 1.0, -128))
    im = Image.merge("RGB", bands)
    d = ImageDraw.Draw(im)
    for _ in range(30):
        x, y = rnd.randrange(w), rnd.randrange(h)
        s = rnd.randrange(w // 60 + 2, w // 6 + 3)
        col = tuple(rnd.randrange(50, 200) for _ in range(3))
        if rnd.random() < 0.5:
            d.rectangle((x, y, x + s, y + s // 2), fill=col)
        else:
            d.ellipse((x, y, x + s, y + s), fill=col, outline=(20, 20, 20),
                      width=2)
    for i in range(0, w // 3, 3):  # fine stripes, like fabric or a fence
        d.line((i, h - h // 5, i, h - 1), fill=(235, 235, 225))
    line = "The quick brown fox jumps over the lazy dog 0123456789 " * 4
    for y in range(h // 8, h // 4, 12):  # a page of small print
        d.text((w // 10, y), line, fill=(rnd.randrange(120), 20, 20))
    # The left half slightly out of focus, as a real lens would be.
    left = im.crop((0, 0, w // 2, h)).filter(ImageFilter.GaussianBlur(1.5))
    im.paste(left, (0, 0))
    sensor = [noise(w, h, 9, rnd) for _ in range(3)]
    im = ImageChops.add(im, Image.merge("RGB", sensor), 1.0, -128)
    im.save(out, "JPEG", quality=90, subsampling=2)


def make_detailed(out, w, h):
    """A detailed photo: per-pixel noise blended a quarter into colour
    gradients, quality 90 with 4:2:0 chroma (about 5.8 MB at 4032x3024).
    Fine detail everywhere is what costs a JPEG decoder (the entropy
    decoding of many non-zero coefficients), which the smooth photo hides."""
    import random
    rnd = random.Random(15)
    grad = Image.linear_gradient("L").resize((w, h), Image.BILINEAR)
    rad = Image.radial_gradient("L").resize((w, h), Image.BILINEAR)
    side = Image.linear_gradient("L").rotate(90).resize((w, h),
                                                       Image.BILINEAR)
    base = Image.merge("RGB", (grad, rad, side))
    noise = Image.frombytes("RGB", (w, h), rnd.randbytes(w * h * 3))
    Image.blend(base, noise, 0.25).save(out, "JPEG", quality=90,
                                        subsampling=2)


# --- Synapse's thumbnailer (synapse/media/thumbnailer.py) ---------------

class Thumbnailer:
    """Image.open, no draft(): Pillow decodes the full resolution, resizes
    with LANCZOS and encodes quality 80, as Synapse does."""

    def __init__(self, path):
        self.image = Image.open(path)
        self.width, self.height = self.image.size
        try:  # Synapse reads the EXIF orientation from every image
            self.image._getexif()
        except Exception:
            pass

    def aspect(self, max_width, max_height):
        if max_width * self.height < max_height * self.width:
            return max_width, (max_width * self.height) // self.width
        return (max_height * self.width) // self.height, max_height

    def _resize(self, width, height):
        if self.image.mode in ["1", "L", "P"]:
            if self.image.info.get("transparency", None) is not None:
                self.image = self.image.convert("RGBA")
            else:
                self.image = self.image.convert("RGB")
        return self.image.resize((width, height), LANCZOS)

    def scale(self, width, height):
        return self._encode(self._resize(width, height))

    def crop(self, width, height):
        if width * self.height > height * self.width:
            scaled_width = width
            scaled_height = (width * self.height) // self.width
            crop_top = (scaled_height - height) // 2
            box = (0, crop_top, width, height + crop_top)
        else:
            scaled_width = (height * self.width) // self.height
            scaled_height = height
            crop_left = (scaled_width - width) // 2
            box = (crop_left, 0, width + crop_left, height)
        return self._encode(self._resize(scaled_width, scaled_height).crop(box))

    def _encode(self, image):
        from io import BytesIO
        out = BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=80)
        return out.getvalue()

    def make(self, w, h, method):
        """As Synapse's media repository: scale fits inside w x h first."""
        if method == "scale":
            return self.scale(*self.aspect(w, h))
        return self.crop(w, h)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def synapse(src, out, w, h, method):
    write(out, Thumbnailer(src).make(w, h, method))


def synapse_all(src, outdir):
    """One open, one load, five resizes and saves, as Synapse's
    _generate_thumbnails does after an upload."""
    t = Thumbnailer(src)
    t.image.load()
    for w, h, method in DEFAULT_SIZES:
        write("%s/%dx%d-%s.jpg" % (outdir, w, h, method), t.make(w, h, method))


def repeat(n, fn, *args):
    """fn once, then n more times timed; as mediarepo-admin --repeat."""
    import time
    fn(*args)
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn(*args)
    w1, c1 = time.perf_counter(), time.process_time()
    print("repeat %d: %.2f ms wall, %.2f ms cpu per round"
          % (n, (w1 - w0) * 1000 / n, (c1 - c0) * 1000 / n))


def clock(argv):
    """Runs argv as a whole process: its wall and CPU time (wait4).
    subprocess starts it with vfork or posix_spawn, so neither figure
    carries the copy of this Python process that os.fork would make."""
    import os
    import subprocess
    import time
    w0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, close_fds=False)
    _, status, ru = os.wait4(p.pid, 0)
    w1 = time.perf_counter()
    # reaped here (wait4 for the rusage), so Popen must not wait again
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.stderr.write("clock: %s failed\n" % argv[0])
        return 1
    print("%.2f ms wall, %.2f ms cpu"
          % ((w1 - w0) * 1000, (ru.ru_utime + ru.ru_stime) * 1000))
    return 0


# --- scoring ------------------------------------------------------------

def reference(full, w, h, method):
    """Pillow LANCZOS of the full decode to w x h: for crop, resize to cover
    and keep the centre (Synapse's geometry); for scale, straight to w x h
    (the outputs fit w x h exactly when the aspect ratios agree)."""
    fw, fh = full.size
    if method == "scale":
        return full.resize((w, h), LANCZOS)
    if w * fh > h * fw:
        sw, sh = w, (w * fh) // fw
        top = (sh - h) // 2
        box = (0, top, w, top + h)
    else:
        sw, sh = (h * fw) // fh, h
        left = (sw - w) // 2
        box = (left, 0, left + w, h)
    return full.resize((sw, sh), LANCZOS).crop(box)


def psnr(a, b):
    import math
    from PIL import ImageChops, ImageStat
    diff = ImageChops.difference(a, b)
    sq = ImageStat.Stat(diff).sum2
    mse = sum(sq) / (len(sq) * a.width * a.height)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


def score(orig, specs):
    import os
    full = Image.open(orig).convert("RGB")
    refs = {}
    for spec in specs:
        w, h, method, path = spec.split(":", 3)
        path, _, other = path.partition("=")
        key = (int(w), int(h), method)
        if not all(os.path.exists(p) for p in (path, other or path)):
            print("missing")
            continue
        im = Image.open(path).convert("RGB")
        ref = Image.open(other).convert("RGB") if other else None
        if ref is not None and ref.size != key[:2]:
            print("ref size %dx%d" % ref.size)
            continue
        if im.size != key[:2]:
            print("size %dx%d" % im.size)
            continue
        if ref is None:
            if key not in refs:
                refs[key] = reference(full, *key)
            ref = refs[key]
        print("%.1f" % psnr(im, ref))


def main(argv):
    cmd = argv[0] if argv else ""
    n = 0
    if cmd == "clock" and len(argv) >= 2:
        return clock(argv[1:])
    if len(argv) >= 3 and argv[1] == "--repeat" and argv[2].isdigit():
        n = int(argv[2])
        argv = [cmd] + argv[3:]
    if n > 0 and cmd == "synapse" and len(argv) == 6 and argv[5] in ("crop", "scale"):
        repeat(n, synapse, argv[1], argv[2], int(argv[3]), int(argv[4]), argv[5])
    elif n > 0 and cmd == "synapse-all" and len(argv) == 3:
        repeat(n, synapse_all, argv[1], argv[2])
    elif cmd == "make" and len(argv) == 4:
        make(argv[1], int(argv[2]), int(argv[3]))
    elif cmd == "make-detailed" and len(argv) == 4:
        make_detailed(argv[1], int(argv[2]), int(argv[3]))
    elif n == 0 and cmd == "synapse" and len(argv) == 6 and argv[5] in ("crop", "scale"):
        synapse(argv[1], argv[2], int(argv[3]), int(argv[4]), argv[5])
    elif n == 0 and cmd == "synapse-all" and len(argv) == 3:
        synapse_all(argv[1], argv[2])
    elif cmd == "psnr" and len(argv) >= 2:
        score(argv[1], argv[2:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
