#!/usr/bin/env python3
"""Gives a notebook page a `small` section (the reproduction) above its `tiny` one (the CI-sized run).

    scripts/experiments/add_small_section.py notebooks-md/table3.md [...]

The page keeps its title and introduction. Then comes "## At the `small` preset" with the small scale
paragraph and a block running the same report on results/export.json into notebooks-md/generated/small/
(so its links to the terms page stay within the small reports), then "## At the `tiny` preset" with the
page's existing block. Refresh the outputs afterwards with `rdd-report notebook PAGE`. Idempotent: a page
that already has a small section is left alone.
"""
import os
import re
import sys

SMALL_SCALE = (
    "**Scale.** Generated from `results/export.json`, the committed export of the `small` sweeps "
    "(`experiments/*.json`, run by `scripts/experiments/run-all.sh experiments`, published by "
    "`scripts/experiments/publish.sh`): Fashion-MNIST (28×28 padded to 32 and 2×2-averaged to 16×16) standing "
    "in for the paper's data; a U-Net with 32 base channels and multipliers [1, 2, 2]; a 4000-step teacher, "
    "300 steps per PD halving from 1024 down to 8 steps, 200 steps per distillation stage, batch 32; 3 seeds; "
    "N = 2000 samples per evaluation against the 10,000-image test split; FID on the pooled features of our "
    "DenseNet-BC [4, 4, 4] classifier (data-vs-data floor at this N: 0.033 ± 0.010, docs/metrics.md). "
    "Absolute values are not comparable with the paper's Inception FID; orderings and differences are. "
    "Trials that have not finished show as missing cells with the command that resumes them."
)

TINY_NOTE = re.compile(r" When the `small` sweeps \(experiments/\*\.json\) have run, replace .*?\(docs/reports\.md\)\.")


def convert(path: str) -> bool:
    text = open(path, encoding="utf-8").read()
    if "## At the `small` preset" in text:
        return False
    m = re.search(r"^\*\*Scale of this page\.\*\*.*$", text, flags=re.M)
    block = re.search(r"^```sh\n(.*?)^```\n", text, flags=re.M | re.S)
    if not m or not block or block.start() < m.start():
        raise SystemExit(f"{path}: expected a '**Scale of this page.**' paragraph followed by a ```sh block")
    lines = block.group(1).splitlines()
    reports = [l for l in lines if l.startswith("rdd-report ")]
    if len(reports) != 1 or "--export results/tiny/export.json" not in reports[0]:
        raise SystemExit(f"{path}: expected one `rdd-report … --export results/tiny/export.json` line in the first block")
    small = reports[0].replace("--export results/tiny/export.json", "--export results/export.json")
    small = small.replace("--out notebooks-md/generated/", "--out notebooks-md/generated/small/")
    setup = [l for l in lines if not l.startswith("rdd-report ")]
    tiny_para = TINY_NOTE.sub("", m.group(0)).replace("**Scale of this page.**", "**Scale.**")
    head = text[: m.start()]
    tail = text[block.end():]
    out = head + "## At the `small` preset (the reproduction)\n\n" + SMALL_SCALE + "\n\n```sh\n"
    out += "\n".join(setup + [small]) + "\n```\n\n<!-- output:begin -->\n<!-- output:end -->\n\n"
    out += "## At the `tiny` preset (the CI-sized run)\n\n" + tiny_para + "\n\n```sh\n" + reports[0] + "\n```\n" + tail
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(out)
    os.replace(path + ".tmp", path)
    return True


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(f"{p}: {'small section added' if convert(p) else 'already has a small section'}")
