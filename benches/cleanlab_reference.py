#!/usr/bin/env python3
"""The tools a user would pick instead of `thresh train --mode crossval`, on one benchmark
folder (the demo's layout: `DIR/<given label>/...` plus `DIR/truth.csv`, e.g. from
`benches/real_data.py`), side by side with thresh in `cargo bench --bench train`
(section `real`):

- `cnn`: the reference network of `benches/torch_reference.py` trained plainly in PyTorch per
  fold (Adam lr 1e-3, batch 32, `--epochs` epochs, no augmentation, no early stopping — what
  a user copying a tutorial would write), its out-of-sample probabilities given to cleanlab;
- `mlp`: scikit-learn's `MLPClassifier` on the raw pixels, out-of-sample probabilities by
  `cross_val_predict`, given to cleanlab — the simplest anchor.

For each: the ranking by cleanlab's label quality score (`cleanlab.rank`, self-confidence)
measured as precision among the top |bad| (bad = the given label is not the truth; junk is
bad), and the flagged set of `cleanlab.filter.find_label_issues` (confident learning,
prune by noise rate) with its size, precision and recall; wall time of each.

Files with the same bytes are one sample, as in a thresh store (its id is the hash of the
bytes), so both sides rank the same population. Images are letterboxed to `--side` (default:
the most common side in the folder) on their border colour, gray unless `--rgb`. The bench
passes `--paths` with the samples thresh ranked (duplicates it set aside are left out).

    python3 benches/cleanlab_reference.py DIR [--folds 5] [--epochs 20] [--threads 2]
        [--seed 7] [--side N] [--rgb] [--paths FILE] [--only cnn|mlp]

Prints one JSON object. Needs `pip install torch numpy scikit-learn pillow cleanlab` (a
venv; never in CI).
"""

import argparse
import collections
import csv
import hashlib
import json
import os
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def letterbox(img, side):
    """Scale the longer side to `side` and pad the rest with the border's mean colour."""
    w, h = img.size
    if (w, h) == (side, side):
        return img
    scale = side / max(w, h)
    img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    a = np.asarray(img, dtype=np.float32)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]).mean(axis=0)
    fill = tuple(int(round(v)) for v in np.atleast_1d(border))
    canvas = Image.new(img.mode, (side, side), fill if len(fill) > 1 else fill[0])
    canvas.paste(img, ((side - img.size[0]) // 2, (side - img.size[1]) // 2))
    return canvas


def load(folder, side, rgb, only=None):
    """(x [n, c, side, side] in 0..1, given label index, is bad, classes), one row per
    distinct file content (and only the absolute paths in `only` when given); unreadable
    files are skipped as thresh skips them."""
    rows = list(csv.DictReader(open(os.path.join(folder, "truth.csv"))))
    classes = sorted({r["given"] for r in rows if r["given"]})
    seen, images, given, bad = set(), [], [], []
    sides = collections.Counter()
    decoded = []
    for r in rows:
        path = os.path.realpath(os.path.join(folder, r["path"]))
        if only is not None and path not in only:
            continue
        try:
            data = open(path, "rb").read()
            img = Image.open(path)
            img.load()
        except Exception:
            continue
        digest = hashlib.sha256(data).digest()
        if digest in seen or not r["given"]:
            continue
        seen.add(digest)
        sides[max(img.size)] += 1
        decoded.append((r, img))
    side = side or sides.most_common(1)[0][0]
    for r, img in decoded:
        img = letterbox(img.convert("RGB" if rgb else "L"), side)
        a = np.asarray(img, dtype=np.float32) / 255.0
        images.append(a.transpose(2, 0, 1) if rgb else a[None])
        given.append(classes.index(r["given"]))
        bad.append(r["true"] != r["given"])
    return np.stack(images), np.array(given), np.array(bad), classes


def folds_of(labels, k, seed):
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(labels, labels))


def cnn_probs(x, y, classes, folds, epochs, seed):
    import torch
    import torch.nn.functional as F
    from torch_reference import Classifier

    probs = np.zeros((len(y), classes), dtype=np.float32)
    for f, (train, test) in enumerate(folds):
        torch.manual_seed(seed + f)
        model = Classifier(classes=classes, channels=x.shape[1])
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])
        g = torch.Generator().manual_seed(seed + f)
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(train), generator=g)
            for i in range(0, len(train), 32):
                idx = order[i : i + 32]
                if len(idx) < 2:  # BatchNorm in train mode needs two samples
                    continue
                opt.zero_grad()
                F.cross_entropy(model(xt[idx]), yt[idx]).backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            out = [
                F.softmax(model(torch.from_numpy(x[test[i : i + 256]])), 1).numpy()
                for i in range(0, len(test), 256)
            ]
        probs[test] = np.concatenate(out)
    return probs


def mlp_probs(x, y, classes, folds, seed):
    from sklearn.neural_network import MLPClassifier

    flat = x.reshape(len(x), -1)
    probs = np.zeros((len(y), classes), dtype=np.float32)
    for train, test in folds:
        m = MLPClassifier(hidden_layer_sizes=(256,), max_iter=300, random_state=seed)
        m.fit(flat[train], y[train])
        p = np.zeros((len(test), classes), dtype=np.float32)
        p[:, m.classes_] = m.predict_proba(flat[test])
        probs[test] = p
    return probs


def measure(y, bad, probs, secs):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(y, probs)
    wrong = int(bad.sum())
    top = np.argsort(quality, kind="stable")[:wrong]
    flagged = find_label_issues(y, probs)
    hits = int((flagged & bad).sum())
    return {
        "precision_at_bad": float(bad[top].mean()) if wrong else 1.0,
        "flagged": int(flagged.sum()),
        "flagged_precision": hits / max(1, int(flagged.sum())),
        "flagged_recall": hits / max(1, wrong),
        "accuracy_on_given": float((probs.argmax(1) == y).mean()),
        "wall_s": secs,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--side", type=int, default=0)
    ap.add_argument("--rgb", action="store_true")
    ap.add_argument("--only", choices=["cnn", "mlp"], default=None)
    ap.add_argument("--paths", help="a file of absolute paths, one per line: rank only these "
                    "(the samples thresh ranked: one source each, duplicates left out)")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    only = None
    if a.paths:
        only = {os.path.realpath(line.rstrip("\n")) for line in open(a.paths) if line.strip()}
    x, y, bad, classes = load(a.dir, a.side, a.rgb, only)
    folds = folds_of(y, a.folds, a.seed)
    out = {"samples": len(y), "bad": int(bad.sum()), "side": x.shape[2], "channels": x.shape[1],
           "folds": a.folds, "epochs": a.epochs, "threads": a.threads}
    if a.only in (None, "mlp"):
        t = time.time()
        p = mlp_probs(x, y, len(classes), folds, a.seed)
        out["mlp"] = measure(y, bad, p, time.time() - t)
    if a.only in (None, "cnn"):
        t = time.time()
        p = cnn_probs(x, y, len(classes), folds, a.epochs, a.seed)
        out["cnn"] = measure(y, bad, p, time.time() - t)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
