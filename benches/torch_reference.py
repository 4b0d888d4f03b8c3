"""PyTorch side of `cargo bench --bench train`: the same reference network, optimiser,
batch and sample count as thresh's speed section, timed on this machine's CPU.

The network: a ResNet-50 stem cut after its first stage — 7x7/2 conv (no bias) + BN +
ReLU + 3x3/2 max-pool, three bottleneck blocks 64-64-256 (1x1, 3x3, 1x1, BN after each,
a 1x1 projection + BN shortcut on the first) — global average pool and a linear head;
1x32x32 input, 10 classes. Adam (lr 1e-3), batch 32, cross-entropy, train mode.

Prints one JSON line: seconds per epoch (median of the timed epochs, after one warm-up
epoch), scoring samples/s (eval mode, batch 256, no grad), and the thread count.

    python3 benches/torch_reference.py [--n 2000] [--epochs 3] [--threads 2]

Not part of CI: it needs `pip install torch numpy` (see the README's benchmarks section).
"""

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, cout):
        super().__init__()
        self.c1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.b1 = nn.BatchNorm2d(mid)
        self.c2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(mid)
        self.c3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.b3 = nn.BatchNorm2d(cout)
        self.proj = None
        if cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        shortcut = x if self.proj is None else self.proj(x)
        y = F.relu(self.b1(self.c1(x)))
        y = F.relu(self.b2(self.c2(y)))
        y = self.b3(self.c3(y))
        return F.relu(y + shortcut)


class Classifier(nn.Module):
    def __init__(self, classes=10, channels=1, width=64, blocks=3):
        super().__init__()
        self.stem = nn.Conv2d(channels, width, 7, stride=2, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.blocks = nn.Sequential(
            *[Bottleneck(width if i == 0 else 4 * width, width, 4 * width) for i in range(blocks)]
        )
        self.head = nn.Linear(4 * width, classes)

    def forward(self, x):
        x = (x - 0.5) * 2.0
        y = self.pool(F.relu(self.bn(self.stem(x))))
        y = self.blocks(y)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(7)
    # The content does not change the cost: uniform pixels, balanced labels.
    x = torch.rand(args.n, 1, 32, 32)
    y = torch.arange(args.n) % 10
    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    secs = []
    for epoch in range(args.epochs + 1):
        model.train()
        perm = torch.randperm(args.n)
        t = time.perf_counter()
        for i in range(0, args.n, args.batch):
            idx = perm[i : i + args.batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if epoch > 0:  # the first epoch warms the allocator and kernels up
            secs.append(time.perf_counter() - t)

    model.eval()
    t = time.perf_counter()
    with torch.no_grad():
        for i in range(0, args.n, 256):
            model(x[i : i + 256]).softmax(1)
    score_rate = args.n / (time.perf_counter() - t)

    print(
        json.dumps(
            {
                "bench": "torch_reference",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "n": args.n,
                "batch": args.batch,
                "epoch_s": statistics.median(secs),
                "score_per_s": score_rate,
            }
        )
    )


if __name__ == "__main__":
    main()
