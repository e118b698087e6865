#!/usr/bin/env python3
"""PyTorch side of `rdd-bench conv`: times nn.Conv2d forward+backward and forward-only, mirroring
bench_conv of /work/shared/bench/torch_unet_bench.py (x.requires_grad, y.backward(ones_like(y))),
in NCHW and channels-last (NHWC) layouts, on a fixed number of threads.

Usage: python3 torch_conv.py --threads 2 --runs 10 --warmup 3 --shape 32,64,64,32,3,1,1 [--shape ...]
       (shape = batch,cin,cout,hw,k,stride,pad)
Prints one JSON object per (shape, layout) on stdout:
  {"shape": "32,64,64,32,3,1,1", "layout": "NHWC", "fwd_bwd_ms": ..., "fwd_ms": ...}

With --serve it prints the header line, then reads requests "shape layout" (one per line) from stdin
and answers each with one JSON line, so that a caller can interleave its own timings with PyTorch's
case by case (the machine may be shared: interleaving keeps both sides under the same load).
"""
import sys
import argparse
import json
import time

import torch
import torch.nn as nn


def bench(batch, cin, cout, hw, k, stride, pad, channels_last, runs, warmup):
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad)
    x = torch.randn(batch, cin, hw, hw)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)

    def fb():
        y = conv(x)
        y.backward(torch.ones_like(y))

    for _ in range(warmup):
        fb()
    ts, tf = [], []
    for _ in range(runs):
        t0 = time.perf_counter(); fb(); ts.append(time.perf_counter() - t0)
    with torch.no_grad():
        for _ in range(warmup):
            conv(x)
        for _ in range(runs):
            t0 = time.perf_counter(); conv(x); tf.append(time.perf_counter() - t0)
    return sorted(ts)[len(ts) // 2] * 1e3, sorted(tf)[len(tf) // 2] * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--shape", action="append", default=[], help="batch,cin,cout,hw,k,stride,pad")
    ap.add_argument("--layouts", default="NCHW,NHWC")
    ap.add_argument("--serve", action="store_true", help="answer 'shape layout' requests read from stdin")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                      "cpu_capability": torch.backends.cpu.get_cpu_capability()}), flush=True)
    if args.serve:
        for line in sys.stdin:
            parts = line.split()
            if len(parts) != 2:
                continue
            spec, layout = parts
            b, cin, cout, hw, k, s, p = (int(v) for v in spec.split(","))
            fb, f = bench(b, cin, cout, hw, k, s, p, layout == "NHWC", args.runs, args.warmup)
            print(json.dumps({"shape": spec, "layout": layout, "fwd_bwd_ms": fb, "fwd_ms": f}), flush=True)
        return
    for spec in args.shape:
        b, cin, cout, hw, k, s, p = (int(v) for v in spec.split(","))
        for layout in args.layouts.split(","):
            fb, f = bench(b, cin, cout, hw, k, s, p, layout == "NHWC", args.runs, args.warmup)
            print(json.dumps({"shape": spec, "layout": layout, "fwd_bwd_ms": fb, "fwd_ms": f}), flush=True)


if __name__ == "__main__":
    main()
