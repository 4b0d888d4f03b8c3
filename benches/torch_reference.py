"""PyTorch side of `cargo bench --bench train`: the same reference network, optimiser,
batch and sample count as thresh's speed section, timed on this machine's CPU.

The network: a ResNet-50 stem cut after its first stage — 7x7/2 conv (no bias) + BN +
ReLU + 3x3/2 max-pool, three bottleneck blocks 64-64-256 (1x1, 3x3, 1x1, BN after each,
a 1x1 projection + BN shortcut on the first) — global average pool and a linear head;
1x32x32 input, 10 classes. Adam (lr 1e-3), batch 32, cross-entropy, train mode.

Prints one JSON line: seconds per epoch (median of the timed epochs, after one warm-up
epoch), scoring samples/s (eval mode, batch 256, no grad), and the thread count. With
`--gan-iters N`, also the conditional GAN of `src/model/gan.rs` (generator: four 4x4
transposed convs each followed by a 3x3 conv, BN + ReLU, one-hot planes before each later
upsampling, sigmoid; discriminator: five convs, LeakyReLU 0.2, one-hot planes beside the
image; Adam lr 2e-4, batch 32): iterations/s with the discriminator and generator steps
only, and with the frozen classifier's cross-entropy added to the generator loss — the two
phases thresh's `gan_speed` times (the second half of the iterations is the second).

    python3 benches/torch_reference.py [--n 2000] [--epochs 3] [--threads 2] [--gan-iters 40]
        [--side 32] [--channels 1]

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


Z = 64


class Generator(nn.Module):
    def __init__(self, classes=10, channels=1, width=16):
        super().__init__()
        chans = [8 * width, 4 * width, 2 * width, width]
        self.classes = classes
        self.ups, self.convs, self.bns = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        prev = Z + classes
        for i, c in enumerate(chans):
            stride, pad = (1, 0) if i == 0 else (2, 1)
            cin = prev if i == 0 else prev + classes
            self.ups.append(nn.ConvTranspose2d(cin, c, 4, stride=stride, padding=pad))
            self.bns.append(nn.BatchNorm2d(c))
            last = i == len(chans) - 1
            self.convs.append(nn.Conv2d(c, channels if last else c, 3, padding=1))
            if not last:
                self.bns.append(nn.BatchNorm2d(c))
            prev = c

    def forward(self, z, onehot):
        b = z.shape[0]
        x = torch.cat([z, onehot], 1).reshape(b, -1, 1, 1)
        last = len(self.ups) - 1
        for i in range(len(self.ups)):
            if i > 0:
                h, w = x.shape[2], x.shape[3]
                planes = onehot.reshape(b, self.classes, 1, 1).expand(b, self.classes, h, w)
                x = torch.cat([x, planes], 1)
            x = F.relu(self.bns[2 * i](self.ups[i](x)))
            x = self.convs[i](x)
            if i != last:
                x = F.relu(self.bns[2 * i + 1](x))
        return torch.sigmoid(x)


class Discriminator(nn.Module):
    def __init__(self, classes=10, channels=1, width=16):
        super().__init__()
        w = 2 * width
        self.classes = classes
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(channels + classes, w, 4, 2, 1),
                nn.Conv2d(w, 2 * w, 4, 2, 1),
                nn.Conv2d(2 * w, 4 * w, 4, 2, 1),
                nn.Conv2d(4 * w, 4 * w, 3, 1, 1),
                nn.Conv2d(4 * w, 1, 4, 1, 0),
            ]
        )

    def forward(self, images, onehot):
        b, _, h, w = images.shape
        planes = onehot.reshape(b, self.classes, 1, 1).expand(b, self.classes, h, w)
        x = torch.cat([(images - 0.5) * 2.0, planes], 1)
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i != last:
                x = F.leaky_relu(x, 0.2)
        return x.reshape(b)


def gan_speed(x, y, iters, batch=32):
    """Iterations/s of the two phases, as thresh's bench splits them."""
    g, d, frozen = Generator(), Discriminator(), Classifier()
    for p in frozen.parameters():
        p.requires_grad_(False)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4)
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4)
    bce = F.binary_cross_entropy_with_logits
    hold = iters // 2
    marks = []
    t = time.perf_counter()
    for it in range(iters):
        idx = torch.randint(0, x.shape[0], (batch,))
        real, labels = x[idx], y[idx]
        onehot = F.one_hot(labels, 10).float()
        fake = g(torch.randn(batch, Z), onehot).detach()
        d_loss = bce(d(real, onehot), torch.ones(batch)) + bce(d(fake, onehot), torch.zeros(batch))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        fake = g(torch.randn(batch, Z), onehot)
        g_loss = bce(d(fake, onehot), torch.ones(batch))
        if it >= hold:
            g_loss = g_loss - 0.5 * F.cross_entropy(frozen(fake), labels)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if it + 1 in (1, hold, iters):
            marks.append(time.perf_counter() - t)
    # The first iteration is a warm-up, as in thresh's bench.
    return (hold - 1) / (marks[1] - marks[0]), (iters - hold) / (marks[2] - marks[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--gan-iters", type=int, default=0)
    ap.add_argument("--side", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(7)
    # The content does not change the cost: uniform pixels, balanced labels.
    x = torch.rand(args.n, args.channels, args.side, args.side)
    y = torch.arange(args.n) % 10
    model = Classifier(channels=args.channels)
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

    out = {
        "bench": "torch_reference",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "n": args.n,
        "batch": args.batch,
        "side": args.side,
        "channels": args.channels,
        "epoch_s": statistics.median(secs),
        "score_per_s": score_rate,
    }
    if args.gan_iters > 0:
        out["gan_hold_it_s"], out["gan_adversarial_it_s"] = gan_speed(x, y, args.gan_iters)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
