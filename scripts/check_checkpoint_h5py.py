#!/usr/bin/env python3
"""Cross-checks the rdd checkpoint format (docs/checkpoint-format.md) with h5py, independently of
the Swift code, so that a bug shared by the Swift writer and reader cannot hide.

    check_checkpoint_h5py.py verify FILE   # FILE was written by Swift from the reference contents
    check_checkpoint_h5py.py write FILE    # write the reference contents with h5py, for Swift to read
    check_checkpoint_h5py.py write-variants FILE  # other attribute encodings, for Swift to read
    check_checkpoint_h5py.py checksum FILE # print the recomputed and the stored checksum

`verify` checks names, dtypes, shapes and values bit for bit, that string attributes come back as
`str`, that the stored `rdd_checksum` equals the one computed here, and loads `params/*` and
`buffers/*` into a PyTorch module with the snippet from the docs (when torch is importable).
The reference contents are defined twice, here and in Tests/CheckpointTests/Reference.swift;
the two must agree. Exit status 0 means every check passed; anything else prints why.
"""
import struct
import sys
import types
import zlib

import h5py
import numpy as np

FORMAT_VERSION = 1
U64 = [0, 1, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF]


def reference_arrays():
    """name -> numpy array; mirrors Reference.swift exactly (every value is exact in binary)."""
    i6 = np.arange(6)
    return {
        "params/0.weight": (i6 * 0.5 - 1).astype(np.float32).reshape(2, 3),
        "params/0.bias": np.array([0.25, -0.75], dtype=np.float32),
        "params/1.weight": np.array([1.5, 2.0], dtype=np.float32),
        "params/1.bias": np.array([-0.125, 0.0625], dtype=np.float32),
        "buffers/1.running_mean": np.array([0.5, -0.5], dtype=np.float32),
        "buffers/1.running_var": np.array([2.0, 4.0], dtype=np.float32),
        "buffers/1.num_batches_tracked": np.array(17, dtype=np.int64),
        "ema/0.weight": (i6 / 3.0).reshape(2, 3),
        "optimizer/adam/step": np.array(7, dtype=np.int64),
        "rng/state": np.array(U64, dtype=np.uint64).view(np.int64),
        "queue/embeddings": np.zeros((0, 4), dtype=np.float32),
        "deep/a/b/c/odd": (np.arange(15) * 1.25 - 7).reshape(3, 1, 5),
        "scalars/pi": np.array(np.pi),
        "scalars/specials": np.array([np.nan, -0.0, np.inf, -np.inf, 1e-45], dtype=np.float32),
    }


def reference_attributes():
    return {
        "config_json": '{"model":{"channels":64},"name":"digits-\u00e9"}',
        "code_version": "rdd 0.1 (h\u00e9llo \u2713)",
        "empty": "",
        "step": 1000,
        "T": 1024,
        "seed": 42,
        "time_scale": 1,
        "ema_decay": 0.9999,
    }


def checksum(arrays):
    """CRC-32 of the canonical stream: for each dataset in UTF-8 name order, name, NUL, dtype
    name, NUL, rank and extents as little-endian uint64, then the little-endian elements."""
    crc = 0
    for name in sorted(arrays, key=lambda s: s.encode("utf-8")):
        a = np.asarray(arrays[name])
        tag = {"f": {4: "float32", 8: "float64"}, "i": {8: "int64"}}[a.dtype.kind][a.dtype.itemsize]
        crc = zlib.crc32(name.encode("utf-8") + b"\0" + tag.encode("ascii") + b"\0", crc)
        crc = zlib.crc32(struct.pack("<Q", a.ndim) + b"".join(struct.pack("<Q", d) for d in a.shape), crc)
        crc = zlib.crc32(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes(), crc)
    return crc


def read_all(f):
    """Every dataset in the file as name -> numpy array (0-d arrays for scalars)."""
    out = {}
    f.visititems(lambda k, v: out.__setitem__(k, np.asarray(v[()])) if isinstance(v, h5py.Dataset) else None)
    return out


# --- The snippet from docs/checkpoint-format.md (keep the two identical). ---
def state_dict_from_checkpoint(f, groups=("params", "buffers")):
    import torch
    out = {}
    for g in groups:
        if g in f:
            f[g].visititems(lambda k, v: out.__setitem__(k.replace("/", "."), torch.from_numpy(np.asarray(v[()])))
                            if isinstance(v, h5py.Dataset) else None)
    return out
# --- end of snippet ---


def fail(msg):
    print(f"check_checkpoint_h5py: FAIL: {msg}")
    sys.exit(1)


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def verify(path):
    with h5py.File(path, "r") as f:
        got = read_all(f)
        attrs = {k: f.attrs[k] for k in f.attrs}
        want = reference_arrays()
        if sorted(got) != sorted(want):
            fail(f"{path}: dataset names {sorted(got)} != expected {sorted(want)}")
        for name, w in want.items():
            g = got[name]
            if g.dtype != w.dtype.newbyteorder("<") or g.shape != w.shape:
                fail(f"{path}: dataset '{name}' is {g.dtype}{g.shape}, expected {w.dtype}{w.shape}")
            if not same_bits(g.astype(w.dtype), w):
                fail(f"{path}: dataset '{name}' values {g.ravel()[:8]} differ from expected {w.ravel()[:8]}")
        if list(got["rng/state"].view(np.uint64)) != U64:
            fail(f"{path}: rng/state viewed as uint64 is {got['rng/state'].view(np.uint64)}")
        for key, w in reference_attributes().items():
            if key not in attrs:
                fail(f"{path}: missing attribute '{key}'")
            g = attrs[key]
            if isinstance(w, str) and type(g) is not str:
                fail(f"{path}: attribute '{key}' came back as {type(g).__name__}, expected str")
            kinds = {str: (str,), int: (int, np.integer), float: (float, np.floating)}[type(w)]
            if g != w or not isinstance(g, kinds) or isinstance(g, (bool, np.bool_)):
                fail(f"{path}: attribute '{key}' = {g!r} ({type(g).__name__}), expected {w!r}")
        if int(attrs.get("rdd_format_version", -1)) != FORMAT_VERSION:
            fail(f"{path}: rdd_format_version = {attrs.get('rdd_format_version')!r}")
        stored, computed = int(attrs.get("rdd_checksum", -1)), checksum(got)
        if stored != computed:
            fail(f"{path}: rdd_checksum = {stored}, but Python computes {computed}")
        extra = set(attrs) - set(reference_attributes()) - {"rdd_format_version", "rdd_checksum"}
        if extra:
            fail(f"{path}: unexpected attributes {sorted(extra)}")
        check_torch_snippet(f, path)
    print(f"check_checkpoint_h5py: OK: {path} ({len(got)} datasets, checksum {computed})")


def check_torch_snippet(f, path):
    """Runs the docs' snippet: with torch, loads the state dict into the module it was made for;
    without torch, checks the snippet's name mapping with a stand-in `from_numpy` (plain dict)."""
    try:
        import torch
    except ImportError:
        torch = None
        sys.modules["torch"] = types.SimpleNamespace(from_numpy=lambda a: a)
    state = state_dict_from_checkpoint(f)
    want = {k.split("/", 1)[1]: v for k, v in reference_arrays().items() if k.split("/")[0] in ("params", "buffers")}
    if sorted(state) != sorted(want):
        fail(f"{path}: snippet gave keys {sorted(state)}, expected {sorted(want)}")
    if torch is None:
        for k, v in state.items():
            if not same_bits(np.asarray(v), want[k]):
                fail(f"{path}: snippet gave {k} = {v}, expected {want[k]}")
        print("check_checkpoint_h5py: torch not importable; snippet checked on a plain dict only")
        return
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    model.load_state_dict(state, strict=True)
    for k, v in model.state_dict().items():
        if not same_bits(v.numpy(), want[k]):
            fail(f"{path}: after load_state_dict, {k} = {v} differs from {want[k]}")


def write(path):
    arrays = reference_arrays()
    with h5py.File(path, "w") as f:
        for name, a in arrays.items():
            f.create_dataset(name, data=a)
        for key, v in reference_attributes().items():
            f.attrs[key] = v
        f.attrs["rdd_format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["rdd_checksum"] = np.int64(checksum(arrays))
    print(f"check_checkpoint_h5py: wrote {path}")


def write_variants(path):
    """Attribute encodings other writers produce (ASCII and fixed-length strings, narrow ints and
    floats) next to one float32 array, with a valid header, for the Swift reader to accept."""
    arrays = {"w": np.array([1.0, 2.0], dtype=np.float32)}
    with h5py.File(path, "w") as f:
        f.create_dataset("w", data=arrays["w"])
        f.attrs.create("ascii", "plain", dtype=h5py.string_dtype("ascii"))
        f.attrs["fixed"] = np.bytes_("fixed-length")
        f.attrs["i32"] = np.int32(-7)
        f.attrs["u8"] = np.uint8(200)
        f.attrs["f32"] = np.float32(0.5)
        f.attrs["rdd_format_version"] = np.int64(FORMAT_VERSION)
        f.attrs["rdd_checksum"] = np.int64(checksum(arrays))
    print(f"check_checkpoint_h5py: wrote {path}")


def main(argv):
    if len(argv) != 3 or argv[1] not in ("verify", "write", "write-variants", "checksum"):
        print(__doc__)
        return 2
    if argv[1] == "verify":
        verify(argv[2])
    elif argv[1] == "write":
        write(argv[2])
    elif argv[1] == "write-variants":
        write_variants(argv[2])
    else:
        with h5py.File(argv[2], "r") as f:
            print(checksum(read_all(f)), int(f.attrs.get("rdd_checksum", -1)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
