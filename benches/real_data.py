#!/usr/bin/env python3
"""Build a benchmark folder from real images available offline, in the demo's layout.

    python3 benches/real_data.py digits OUT [--seed 7]
    python3 benches/real_data.py tiles OUT [--seed 7] [--near 0.06]

`digits`: scikit-learn's bundled handwritten digits (1,797 real 8x8 scans of 43 writers,
`sklearn.datasets.load_digits`), upscaled to 32x32 gray, ten classes `0`..`9`.
`tiles`: 64x64 colour crops of scikit-learn's two bundled photographs
(`load_sample_images`: china.jpg and flower.jpg, 427x640), at least 16 px apart so no two
originals show the same picture, and none featureless (flat sky); labelled by photograph and quadrant (eight classes). A
tile's 1-px shift is the crop taken one pixel off, as a re-crop of a real photo is.

Either way the thresh demo's flaws are injected, with the demo's truth file:
`OUT/<given label>/<number>.png|jpg` plus `OUT/truth.csv` with columns
`path,given,true,flaw,dup_of` (paths relative to OUT; flaw one of `wrong_label`,
`exact_dup`, `near_dup_{jpeg,shift,brightness,resize}`, `junk_{blank,noise}`). Wrong labels
are half random, half the class people confuse with it. The demo is drawn by thresh itself;
this is the check that a method tuned on it still works on images it did not draw.

Needs numpy, scikit-learn and Pillow (a venv; never in CI):
    python3 -m venv v && v/bin/pip install numpy scikit-learn pillow
"""

import argparse
import csv
import io
import os
import random
import shutil
import sys

import numpy as np
from PIL import Image

# Near copies, exact copies, junk and wrong labels as shares of the originals (the demo's
# proportions).
NEAR, EXACT, JUNK, WRONG = 0.06, 0.03, 0.02, 0.10
NEAR_KINDS = ["jpeg", "shift", "brightness", "resize"]
# The digit people write so that it is read as another.
CONFUSED = {"0": "6", "1": "7", "2": "7", "3": "8", "4": "9", "5": "6", "6": "5", "7": "1",
            "8": "3", "9": "4"}


def digits(rng):
    """(label, image, recrop) per original; recrop(dx, dy) is None: a digit is drawn once."""
    from sklearn.datasets import load_digits

    d = load_digits()
    out = []
    for x, y in zip(d.images, d.target):
        px = (x * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
        # Dark ink on light paper, as scanned.
        img = Image.fromarray(255 - px, "L").resize((32, 32), Image.BICUBIC)
        out.append((str(int(y)), img, None))
    return out, None


def tiles(rng, side=64, apart=16):
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    out = []
    for name, photo in zip(["china", "flower"], photos.images):
        h, w = photo.shape[:2]
        taken = []
        for _ in range(40000):
            x, y = rng.randrange(1, w - side - 1), rng.randrange(1, h - side - 1)
            if any(max(abs(x - a), abs(y - b)) < apart for a, b in taken):
                continue
            # Featureless crops (clear sky, the flower's blurred background) all show one
            # picture: two of them are look-alikes by any measure, so none is an original.
            if photo[y:y + side, x:x + side].mean(axis=2).std() < 10:
                continue
            taken.append((x, y))
        for x, y in taken:
            quadrant = (2 if y + side / 2 >= h / 2 else 0) + (1 if x + side / 2 >= w / 2 else 0)
            label = f"{name}-{quadrant}"

            def crop(dx=0, dy=0, x=x, y=y, photo=photo):
                return Image.fromarray(photo[y + dy:y + dy + side, x + dx:x + dx + side])

            out.append((label, crop(), crop))
    labels = sorted({l for l, _, _ in out})
    # A neighbouring quadrant of the same photograph is the confusable class.
    confused = {l: f"{l.split('-')[0]}-{int(l.split('-')[1]) ^ 1}" for l in labels}
    return out, confused


def encode(img, fmt="PNG", **kw):
    b = io.BytesIO()
    img.save(b, format=fmt, **kw)
    return b.getvalue()


def near(img, recrop, kind, rng):
    """A near copy of `img` of the given kind, as (bytes, extension)."""
    if kind == "jpeg":
        return encode(img.convert("RGB") if img.mode == "RGB" else img, "JPEG",
                      quality=rng.randint(80, 95)), "jpg"
    if kind == "shift":
        dx, dy = rng.choice([(-1, 0), (1, 0), (0, -1), (0, 1), (1, 1), (-1, -1)])
        if recrop is not None:
            return encode(recrop(dx, dy)), "png"
        a = np.asarray(img)
        a = np.roll(a, (dy, dx), axis=(0, 1))
        # Edge pixels repeat instead of wrapping round.
        if dy:
            a[0 if dy > 0 else -1] = a[1 if dy > 0 else -2]
        if dx:
            a[:, 0 if dx > 0 else -1] = a[:, 1 if dx > 0 else -2]
        return encode(Image.fromarray(a, img.mode)), "png"
    if kind == "brightness":
        amount = rng.uniform(0.08, 0.15)
        gain = 1 + amount if rng.random() < 0.5 else 1 - amount
        a = (np.asarray(img).astype(np.float32) * gain).round().clip(0, 255).astype(np.uint8)
        return encode(Image.fromarray(a, img.mode)), "png"
    if kind == "resize":
        num, den = rng.choice([(3, 4), (3, 2), (2, 1)])
        w, h = img.size
        return encode(img.resize((w * num // den, h * num // den), Image.BILINEAR)), "png"
    raise ValueError(kind)


def junk(kind, size, mode, rng):
    n = size * size * (3 if mode == "RGB" else 1)
    if kind == "blank":
        level = rng.randint(0, 255)
        a = np.full(n, level, np.int16) + np.array([rng.randint(-2, 2) for _ in range(n)])
    else:
        a = np.array([rng.randint(0, 255) for _ in range(n)])
    a = a.clip(0, 255).astype(np.uint8)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    return encode(Image.fromarray(a.reshape(shape), mode))


def build(kind, out, seed, near_share=NEAR):
    rng = random.Random(seed)
    originals, confused = (digits if kind == "digits" else tiles)(rng)
    confused = confused or CONFUSED
    labels = sorted({l for l, _, _ in originals})
    n = len(originals)
    plan = []  # (kind, original index or None, extra)
    for i in range(n):
        plan.append(("original", i, None))
    picks = list(range(n))
    rng.shuffle(picks)
    cut = lambda share: int(round(share * n))
    near_of = picks[:cut(near_share)]
    exact_of = picks[cut(near_share):cut(near_share) + cut(EXACT)]
    for k, i in enumerate(near_of):
        plan.append(("near", i, NEAR_KINDS[k % len(NEAR_KINDS)]))
    for i in exact_of:
        plan.append(("exact", i, None))
    for k in range(cut(JUNK)):
        plan.append(("junk", None, ["blank", "noise"][k % 2]))
    # Wrong labels on originals that no copy points to, so a copy's given label is its
    # original's.
    copied = set(near_of) | set(exact_of)
    free = [i for i in picks if i not in copied]
    wrong = {}
    for k, i in enumerate(free[:cut(WRONG)]):
        true = originals[i][0]
        if k % 2 == 0:
            wrong[i] = confused[true]
        else:
            wrong[i] = rng.choice([l for l in labels if l != true])
    numbers = list(range(len(plan)))
    rng.shuffle(numbers)

    if os.path.exists(out):
        if not os.path.exists(os.path.join(out, "truth.csv")) and os.listdir(out):
            sys.exit(f"{out} exists and is not a benchmark folder (no truth.csv)")
        shutil.rmtree(out)
    for l in labels:
        os.makedirs(os.path.join(out, l))
    mode = originals[0][1].mode
    size = originals[0][1].size[0]
    path_of = {}
    rows = []

    def write(number, given, data, ext):
        rel = f"{given}/{number:05d}.{ext}"
        with open(os.path.join(out, rel), "wb") as f:
            f.write(data)
        return rel

    # Originals first, so copies can name them.
    for (what, i, extra), number in zip(plan, numbers):
        if what != "original":
            continue
        true, img, _ = originals[i]
        given = wrong.get(i, true)
        path_of[i] = write(number, given, encode(img), "png")
        rows.append([path_of[i], given, true, "wrong_label" if given != true else "", ""])
    for (what, i, extra), number in zip(plan, numbers):
        if what == "near":
            true, img, recrop = originals[i]
            data, ext = near(img, recrop, extra, rng)
            rows.append([write(number, true, data, ext), true, true, f"near_dup_{extra}",
                         path_of[i]])
        elif what == "exact":
            true, img, _ = originals[i]
            rows.append([write(number, true, encode(img), "png"), true, true, "exact_dup",
                         path_of[i]])
        elif what == "junk":
            given = rng.choice(labels)
            rows.append([write(number, given, junk(extra, size, mode, rng), "png"), given,
                         "junk", f"junk_{extra}", ""])
    rows.sort()
    with open(os.path.join(out, "truth.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "given", "true", "flaw", "dup_of"])
        w.writerows(rows)
    count = lambda p: sum(1 for r in rows if p(r))
    print(f"{out}: {len(rows)} files ({kind}, {size}x{size} {mode}), {len(labels)} classes, "
          f"{count(lambda r: r[3] == 'wrong_label')} wrong labels, "
          f"{count(lambda r: r[3].startswith('near_dup'))} near copies, "
          f"{count(lambda r: r[3] == 'exact_dup')} exact copies, "
          f"{count(lambda r: r[2] == 'junk')} junk")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=["digits", "tiles"])
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--near", type=float, default=NEAR,
                   help="near copies as a share of the originals (more for a dedup benchmark)")
    a = p.parse_args()
    build(a.kind, a.out, a.seed, a.near)


if __name__ == "__main__":
    main()
