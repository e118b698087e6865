#!/usr/bin/env python3
# Copied unchanged from the project brief (shared/bench/torch_unet_bench.py): the PyTorch CPU anchor that
# `rdd-bench unet` runs in the same invocation to compute the speed ratio.
"""CPU anchor benchmark: small DDPM-style U-Net training step + a lone conv3x3, in PyTorch.

U-Net: 32x32x3 input, base channels 64, channel multipliers (1,2,2), 2 res blocks per level
(3 on the way up, DDPM-style skip concatenation), GroupNorm(32), SiLU, single-head self-attention
at 16x16 (and in the 8x8 middle), sinusoidal time embedding -> MLP (4*base) added in every res block.
Training step = forward + MSE(eps_pred, eps) + backward + Adam.

Install (no CUDA wheels): pip install "torch==2.13.0+cpu"   # resolved from the local wheel folder pip is configured with
Run:  python3 torch_unet_bench.py                 # default: threads=2, batches 32 and 128
      python3 torch_unet_bench.py --threads 1 --batches 32 --profile
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim, groups=32):
        super().__init__()
        self.n1 = nn.GroupNorm(groups, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = nn.GroupNorm(groups, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(F.silu(temb))[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return self.skip(x) + h


class Attn(nn.Module):
    def __init__(self, c, groups=32):
        super().__init__()
        self.n = nn.GroupNorm(groups, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, hh, ww = x.shape
        q, k, v = self.qkv(self.n(x)).reshape(b, 3, c, hh * ww).unbind(1)   # each (b, c, hw)
        q, k, v = (z.transpose(1, 2)[:, None] for z in (q, k, v))           # (b, 1, hw, c)
        h = F.scaled_dot_product_attention(q, k, v)                         # single head
        h = h[:, 0].transpose(1, 2).reshape(b, c, hh, ww)
        return x + self.proj(h)


class UNet(nn.Module):
    def __init__(self, ch=64, mult=(1, 2, 2), nres=2, attn_res=(16,), img=32, cin=3):
        super().__init__()
        self.ch = ch
        tdim = 4 * ch
        self.temb = nn.Sequential(nn.Linear(ch, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.cin = nn.Conv2d(cin, ch, 3, padding=1)
        self.down = nn.ModuleList()
        chans = [ch]
        cur, res = ch, img
        for lvl, m in enumerate(mult):
            for _ in range(nres):
                blk = nn.ModuleList([ResBlock(cur, ch * m, tdim)])
                cur = ch * m
                if res in attn_res:
                    blk.append(Attn(cur))
                self.down.append(blk)
                chans.append(cur)
            if lvl != len(mult) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(cur, cur, 3, stride=2, padding=1)]))
                chans.append(cur)
                res //= 2
        self.mid1, self.mida, self.mid2 = ResBlock(cur, cur, tdim), Attn(cur), ResBlock(cur, cur, tdim)
        self.up = nn.ModuleList()
        for lvl, m in reversed(list(enumerate(mult))):
            for _ in range(nres + 1):
                blk = nn.ModuleList([ResBlock(cur + chans.pop(), ch * m, tdim)])
                cur = ch * m
                if res in attn_res:
                    blk.append(Attn(cur))
                self.up.append(blk)
            if lvl != 0:
                self.up.append(nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"),
                                              nn.Conv2d(cur, cur, 3, padding=1)]))
                res *= 2
        self.nout = nn.GroupNorm(32, cur)
        self.cout = nn.Conv2d(cur, cin, 3, padding=1)

    def forward(self, x, t):
        temb = self.temb(timestep_embedding(t, self.ch))
        h = self.cin(x)
        hs = [h]
        for blk in self.down:
            if isinstance(blk[0], ResBlock):
                h = blk[0](h, temb)
                for extra in blk[1:]:
                    h = extra(h)
            else:
                h = blk[0](h)
            hs.append(h)
        h = self.mid2(self.mida(self.mid1(h, temb)), temb)
        for blk in self.up:
            if isinstance(blk[0], ResBlock):
                h = blk[0](torch.cat([h, hs.pop()], dim=1), temb)
                for extra in blk[1:]:
                    h = extra(h)
            else:
                h = blk[1](blk[0](h))
        return self.cout(F.silu(self.nout(h)))


def count_flops(fn):
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def bench_unet(batch, steps, warmup, channels_last, profile):
    torch.manual_seed(0)
    model = UNet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-4)
    x0 = torch.randn(batch, 3, 32, 32)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x0 = x0.contiguous(memory_format=torch.channels_last)
    nparams = sum(p.numel() for p in model.parameters())

    def step():
        t = torch.randint(0, 1000, (batch,))
        noise = torch.randn_like(x0)
        a = torch.rand(batch, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        loss = F.mse_loss(model(xt, t), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def fwd_bwd():
        t = torch.randint(0, 1000, (batch,))
        loss = F.mse_loss(model(x0, t), x0)
        loss.backward()

    flops = count_flops(fwd_bwd)
    with torch.no_grad():
        fwd_flops = count_flops(lambda: model(x0, torch.zeros(batch, dtype=torch.long)))
    opt.zero_grad(set_to_none=True)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    med, best = times[len(times) // 2], times[0]
    # forward-only timing
    with torch.no_grad():
        model(x0, torch.zeros(batch, dtype=torch.long))
        ft = []
        for _ in range(max(2, steps // 2)):
            t0 = time.perf_counter()
            model(x0, torch.zeros(batch, dtype=torch.long))
            ft.append(time.perf_counter() - t0)
        fmed = sorted(ft)[len(ft) // 2]
    print(f"UNet batch {batch:4d} {'NHWC' if channels_last else 'NCHW'}: params {nparams/1e6:.2f} M, "
          f"train step median {med*1e3:8.1f} ms (best {best*1e3:.1f}, n={steps}), "
          f"{med*1e3/batch:.2f} ms/img, {flops/1e9:.1f} GFLOP/step (fwd+bwd, FlopCounter) "
          f"-> {flops/med/1e9:.1f} GFLOP/s | fwd-only {fmed*1e3:.1f} ms, {fwd_flops/1e9:.1f} GFLOP "
          f"-> {fwd_flops/fmed/1e9:.1f} GFLOP/s", flush=True)
    if profile:
        from torch.profiler import profile as prof, ProfilerActivity
        with prof(activities=[ProfilerActivity.CPU]) as p:
            step()
        print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


def bench_conv(batch, steps, channels_last, cin=64, cout=64, hw=32):
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, 3, padding=1)
    x = torch.randn(batch, cin, hw, hw)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    flops_fwd = 2 * cout * cin * 9 * hw * hw * batch
    flops = 3 * flops_fwd                      # fwd + dX + dW
    def fb():
        y = conv(x)
        y.backward(torch.ones_like(y))
    for _ in range(3):
        fb()
    ts, tf = [], []
    for _ in range(steps):
        t0 = time.perf_counter(); fb(); ts.append(time.perf_counter() - t0)
    with torch.no_grad():
        for _ in range(steps):
            t0 = time.perf_counter(); conv(x); tf.append(time.perf_counter() - t0)
    med, fmed = sorted(ts)[len(ts) // 2], sorted(tf)[len(tf) // 2]
    print(f"conv3x3 {cin}->{cout} {hw}x{hw} batch {batch} {'NHWC' if channels_last else 'NCHW'}: "
          f"fwd+bwd {med*1e3:.1f} ms ({flops/med/1e9:.1f} GFLOP/s, {flops/1e9:.2f} GFLOP); "
          f"fwd only {fmed*1e3:.1f} ms ({flops_fwd/fmed/1e9:.1f} GFLOP/s)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--skip-unet", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}, mkldnn {torch.backends.mkldnn.is_available()}")
    bench_conv(32, 10, args.channels_last)
    if not args.skip_unet:
        for b in args.batches:
            bench_unet(b, args.steps if b <= 32 else max(3, args.steps // 2), args.warmup,
                       args.channels_last, args.profile and b == args.batches[0])


if __name__ == "__main__":
    main()
