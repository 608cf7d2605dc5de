#!/usr/bin/python3
"""
resample_check: compares common/resample.c (through tests/unit/resample_cli)
with Pillow's Image.resize(..., LANCZOS), which Synapse uses for thumbnails,
on generated photo-like images: PSNR and largest byte difference per case,
and the best-of-N time of each with the ratio Pillow / ours.

    /usr/bin/python3 bench/resample_check.py [path/to/resample_cli] [-n RUNS]

Exits 1 when any case is below MIN_PSNR dB. Needs Debian's python3-pil,
which only /usr/bin/python3 sees.
"""
import math
import os
import random
import subprocess
import sys
import tempfile
import time

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat

MIN_PSNR = 30.0
LANCZOS = getattr(Image, "Resampling", Image).LANCZOS


def photo(w, h, seed):
    """Smooth gradients, noise, hard edges and text-like fine detail."""
    rnd = random.Random(seed)
    grad = Image.linear_gradient("L").resize((w, h))
    rad = Image.radial_gradient("L").resize((w, h))
    r = ImageChops.add(grad, Image.effect_noise((w, h), 18), 2.0, -20)
    g = ImageChops.add(rad, Image.effect_noise((w, h), 10), 2.0, 0)
    b = grad.transpose(Image.Transpose.ROTATE_180 if hasattr(Image, "Transpose")
                       else Image.ROTATE_180)
    im = Image.merge("RGB", (r, g, b))
    d = ImageDraw.Draw(im)
    for _ in range(40):  # hard-edged shapes
        x, y = rnd.randrange(w), rnd.randrange(h)
        s = rnd.randrange(w // 40 + 2, w // 6 + 3)
        col = tuple(rnd.randrange(256) for _ in range(3))
        if rnd.random() < 0.5:
            d.rectangle((x, y, x + s, y + s // 2), fill=col)
        else:
            d.ellipse((x, y, x + s, y + s), fill=col, outline=(0, 0, 0))
    for i in range(0, w // 3, 2):  # 1-px stripes: the worst case for ringing
        d.line((i, h - h // 5, i, h - 1), fill=(255, 255, 255))
    line = "The quick brown fox jumps over the lazy dog 0123456789 " * 8
    for y in range(h // 8, h // 2, 12):
        d.text((w // 10, y), line, fill=(rnd.randrange(256), 20, 20))
    # Half the frame slightly soft, as a real lens would be.
    left = im.crop((0, 0, w // 2, h)).filter(ImageFilter.GaussianBlur(1.2))
    im.paste(left, (0, 0))
    return im


def with_alpha(im, seed):
    """Soft alpha ramp, a fully transparent block holding garbage colour."""
    w, h = im.size
    a = Image.linear_gradient("L").rotate(90).resize((w, h))
    d = ImageDraw.Draw(a)
    d.rectangle((w // 4, h // 4, w // 2, h // 2), fill=0)
    d.rectangle((w // 2, h // 2, w - w // 8, h - h // 8), fill=255)
    out = im.copy()
    garbage = Image.frombytes("RGB", (w // 4 + 1, h // 4 + 1),
                              random.Random(seed).randbytes(
                                  (w // 4 + 1) * (h // 4 + 1) * 3))
    out.paste(garbage, (w // 4, h // 4))
    out.putalpha(a)
    return out


def psnr(a, b):
    diff = ImageChops.difference(a, b)
    mse = sum(x * x for x in ImageStat.Stat(diff).rms) / len(a.getbands())
    worst = max(hi for _, hi in diff.getextrema())
    return (math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)), worst


def best_ms(fn, runs):
    best = math.inf
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def run_case(cli, tmp, im, size, box, runs):
    ch = len(im.getbands())
    raw_in = os.path.join(tmp, "in.raw")
    raw_out = os.path.join(tmp, "out.raw")
    with open(raw_in, "wb") as f:
        f.write(im.tobytes())
    args = [cli, raw_in, str(im.width), str(im.height), str(ch), raw_out,
            str(size[0]), str(size[1])]
    if box is not None:
        args += ["%.17g" % v for v in box]
    args += ["-n", str(runs)]
    ours_ms = float(subprocess.run(args, check=True, capture_output=True,
                                   text=True).stdout)
    with open(raw_out, "rb") as f:
        ours = Image.frombytes(im.mode, size, f.read())
    ref = im.resize(size, LANCZOS, box=box)
    pil_ms = best_ms(lambda: im.resize(size, LANCZOS, box=box), runs)
    return psnr(ours, ref), ours_ms, pil_ms


def main():
    argv = sys.argv[1:]
    runs = 10
    if "-n" in argv:
        i = argv.index("-n")
        runs = int(argv[i + 1])
        del argv[i:i + 2]
    cli = argv[0] if argv else "/tmp/resample_cli"
    small = photo(1000, 750, 1)
    small_a = with_alpha(small, 2)
    big = photo(4000, 3000, 3)
    big_a = with_alpha(big, 4)
    centre = (125, 0, 875, 750)
    cases = [
        ("rgb 1000x750 -> 320x240", small, (320, 240), None),
        ("rgb 1000x750 -> 640x480", small, (640, 480), None),
        ("rgb 1000x750 crop -> 96x96", small, (96, 96), centre),
        ("rgb 1000x750 crop -> 32x32", small, (32, 32), centre),
        ("rgb 1000x750 frac box -> 32x32", small, (32, 32),
         (125.5, 10.25, 640.75, 500.5)),
        ("rgba 1000x750 -> 320x240", small_a, (320, 240), None),
        ("rgba 1000x750 crop -> 96x96", small_a, (96, 96), centre),
        ("rgb 4000x3000 -> 800x600", big, (800, 600), None),
        ("rgb 4000x3000 -> 320x240", big, (320, 240), None),
        ("rgba 4000x3000 -> 800x600", big_a, (800, 600), None),
    ]
    failed = 0
    print("%-32s %9s %8s %10s %10s %7s" % ("case", "PSNR dB", "max diff",
                                          "ours ms", "Pillow ms", "ratio"))
    with tempfile.TemporaryDirectory() as tmp:
        for name, im, size, box in cases:
            (p, worst), ours_ms, pil_ms = run_case(cli, tmp, im, size, box,
                                                   runs)
            failed += p < MIN_PSNR
            print("%-32s %9s %8d %10.2f %10.2f %6.1fx%s" % (
                name, "inf" if p == math.inf else "%.1f" % p, worst, ours_ms,
                pil_ms, pil_ms / ours_ms, "  FAIL" if p < MIN_PSNR else ""))
    print("%d passed, %d failed" % (len(cases) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
