#!/usr/bin/env python3
"""PyTorch side of `rdd-bench conv`: times nn.Conv2d forward+backward and forward-only, mirroring
bench_conv of /work/shared/bench/torch_unet_bench.py (nn.Conv2d with bias, x.requires_grad,
y.backward(ones_like(y)); forward-only under no_grad), in NCHW and channels-last (NHWC) layouts,
on a fixed number of threads.

Stand-alone:
  python3 torch_conv.py --threads 2 --runs 10 --warmup 3 --shape 32,64,64,32,3,1,1 [--shape ...]
  (shape = batch,cin,cout,hw,k,stride,pad); prints one JSON object per (shape, layout):
  {"shape": "32,64,64,32,3,1,1", "layout": "NHWC", "fwd_bwd_ms": <median>, "fwd_ms": <median>}

Server (used by rdd-bench): python3 torch_conv.py --serve --threads 2 --warmup 3
  prints a header line, then answers each stdin request "shape layout kind n [warm]" (kind = fb | f)
  with {"times_ms": [...]} for n timed calls after `warm` untimed ones. The module and input of each (shape, layout) are built and
  warmed up on first use and kept, so the caller can alternate short blocks of timed runs of its own
  with PyTorch's: on a shared machine both sides then see the same load.
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn


class Case:
    def __init__(self, spec, layout, warmup):
        batch, cin, cout, hw, k, stride, pad = (int(v) for v in spec.split(","))
        torch.manual_seed(0)
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad)
        self.x = torch.randn(batch, cin, hw, hw)
        if layout == "NHWC":
            self.conv = self.conv.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.x.requires_grad_(True)
        for _ in range(warmup):
            self.fb()
        with torch.no_grad():
            for _ in range(warmup):
                self.conv(self.x)

    def fb(self):
        y = self.conv(self.x)
        y.backward(torch.ones_like(y))

    def time(self, kind, n, warm=0):
        ts = []
        if kind == "fb":
            for _ in range(warm):
                self.fb()
            for _ in range(n):
                t0 = time.perf_counter(); self.fb(); ts.append((time.perf_counter() - t0) * 1e3)
        else:
            with torch.no_grad():
                for _ in range(warm):
                    self.conv(self.x)
                for _ in range(n):
                    t0 = time.perf_counter(); self.conv(self.x); ts.append((time.perf_counter() - t0) * 1e3)
        return ts


def median(v):
    return sorted(v)[len(v) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--shape", action="append", default=[], help="batch,cin,cout,hw,k,stride,pad")
    ap.add_argument("--layouts", default="NCHW,NHWC")
    ap.add_argument("--serve", action="store_true", help="answer 'shape layout kind n' requests from stdin")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "cpu_capability": torch.backends.cpu.get_cpu_capability()}), flush=True)
    if args.serve:
        cases = {}
        for line in sys.stdin:
            parts = line.split()
            if len(parts) not in (4, 5):
                print(json.dumps({"error": "expected 'shape layout kind n [warm]'"}), flush=True)
                continue
            spec, layout, kind, n = parts[:4]
            warm = int(parts[4]) if len(parts) == 5 else 0
            key = (spec, layout)
            if key not in cases:
                if any(k[0] != spec for k in cases):
                    cases.clear()      # only the current shape's cases stay alive (memory)
                cases[key] = Case(spec, layout, args.warmup)
            print(json.dumps({"times_ms": cases[key].time(kind, int(n), warm)}), flush=True)
        return
    for spec in args.shape:
        for layout in args.layouts.split(","):
            c = Case(spec, layout, args.warmup)
            fb, f = median(c.time("fb", args.runs)), median(c.time("f", args.runs))
            print(json.dumps({"shape": spec, "layout": layout, "fwd_bwd_ms": fb, "fwd_ms": f}), flush=True)


if __name__ == "__main__":
    main()
