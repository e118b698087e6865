#!/usr/bin/env python3
"""Writes the reproduction specs of issue 9: experiments/<name>.json (small preset, the measured
reproduction), experiments/tiny/<name>.json (CI-sized, same structure) and experiments/paper/<name>.json
(the paper's settings, for users with CIFAR-10 / ImageNet-64 and the compute).

Axis values bracket the paper's stated optima (τ_IS 0.7/0.9, τ_M 0.4, N_q 20k, V 2048, α 0.8, β 0.3).
Temperatures and loss weights are dimensionless and kept as in the paper. Queue sizes scale with the
number of pixel embeddings a run produces: the paper's N_q = 20,000 / V = 2048 become N_q = 4000 /
V = 1024 at `small` (16 feature pixels per image, batch 32, 64 embeddings enqueued per step over 200
steps) and 512 / 128 at `tiny`. Batch sizes bracket each preset's distillation batch (32 at small
and tiny; the paper's figure goes to 128).

Figures 6–9 follow the paper's protocol: the 8-step PD model is the teacher and the 4-step student is
reported (one distillation stage 8 → 4); each figure spec also runs RCFD 8 → 4, the reference line.
The term a figure studies is isolated as in the paper's captions: τ_IS, α and the batch size with
CFD + IS_P2P; τ_M, β, N_q and V with CFD + M_P2P.

Run: python3 scripts/experiments/make_specs.py  (rewrites the files; commit them).
"""
import json, os, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "experiments")
METHODS_T1 = ["pd", "pd_perceptual", "rcfd", "rdd"]
ABLATION = ["pd", "rcfd", "cfd+ii_p2p", "cfd+is_p2p", "cfd+m_p2p", "rdd"]
CHEAP_BASELINES = ["pd:8", "ddim:8", "dpm_solver:12", "pndm:10"]
# The paper reports Inception FID: the paper-size specs ask for it (`rdd-setup inception` installs the weights).
WITH_INCEPTION = ["fid_classifier", "classifier_score", "kid_classifier", "fid_inception"]

SCALES = {
    "small": dict(seeds=[0, 1, 2], batch=[8, 16, 32, 64], nq=[1024, 2000, 4000, 8000, 12000], v=[128, 256, 512, 1024, 2048],
                  nq_v=1024, v_nq=4000, data_note="Fashion-MNIST 16×16 (pad 28→32, 2×2 average)"),
    "tiny": dict(seeds=[0, 1], batch=[8, 16, 32, 64], nq=[128, 256, 512, 1024, 2048], v=[16, 32, 64, 128, 256],
                 nq_v=128, v_nq=512, data_note="scikit-learn digits 8×8"),
    "paper": dict(seeds=[0], batch=[16, 32, 64, 128], nq=[5000, 10000, 20000, 40000, 80000], v=[256, 512, 1024, 2048, 4096],
                  nq_v=4096, v_nq=20000, data_note="CIFAR-10 32×32 (ImageNet-64 for Table 2)"),
}
TAU_IS = [0.5, 0.7, 0.9, 1.0, 1.5]
TAU_M = [0.05, 0.1, 0.2, 0.4, 0.8]
ALPHA = [0.2, 0.5, 0.8, 1.0, 2.0]
BETA = [0.05, 0.1, 0.3, 0.5, 1.0]


def spec(name, preset, description, base=None, grid=None, trials=None, seeds=None):
    s = {"$schema": ("../schemas/sweep-spec.schema.json" if preset == "small" else "../../schemas/sweep-spec.schema.json"),
         "name": name, "description": description, "preset": preset}
    if base: s["base"] = base
    if trials: s["trials"] = trials
    if grid: s["grid"] = grid
    s["seeds"] = seeds
    return s


def data_root(preset, conditional=False):
    if preset != "paper": return {}
    return {"dataRoot": "data/imagenet64" if conditional else "data/cifar-10-batches-bin"}


def figure(preset, sc, number, title, lines):
    """lines: [(method, path, values)] — every line is one method sweeping one key at the 8 → 4 stage."""
    trials = [{"distill.method": "rcfd"}]
    for method, path, values in lines:
        trials += [{"distill.method": method, path: v} for v in values]
    base = {"distill": {"to": 4}, "evaluation": {"studentSteps": [4]}}
    base.update(data_root(preset))
    return spec(f"{prefix(preset)}fig{number}", preset,
                f"Fig. {number} ({title}) on {sc['data_note']}: the 8-step PD model is the teacher, one stage 8 → 4, "
                f"the 4-step student evaluated; RCFD 8 → 4 is the reference line. Values bracket the paper's optima "
                f"(scaling: scripts/experiments/make_specs.py).", base=base, trials=trials, seeds=sc["seeds"])


def prefix(preset):
    return "" if preset == "small" else preset + "-"


def write(preset, name, s):
    if preset == "paper":
        s.setdefault("base", {}).setdefault("evaluation", {})["metrics"] = WITH_INCEPTION
    d = ROOT if preset == "small" else os.path.join(ROOT, preset)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".json"), "w") as f:
        json.dump(s, f, indent=2, ensure_ascii=False)
        f.write("\n")


for preset, sc in SCALES.items():
    cond_base = {"conditional": True, "unet": {"numClasses": 10 if preset != "paper" else 1000}, "evaluation": {"studentSteps": [1, 2, 4], "baselines": CHEAP_BASELINES + ["ddim:128"]}}
    cond_base.update(data_root(preset, conditional=True))
    if preset == "paper":
        # Spec §2: the ImageNet-64 conditional U-Net (116,582,403 parameters), RGB 64×64.
        cond_base.update({"dataset": "imagenet64", "imageSize": 64,
                          "unet": {"imageSize": 64, "inChannels": 3, "ch": 128, "chMult": [1, 2, 3, 4], "attn": [2, 3],
                                   "numResBlocks": 3, "dropout": 0.1, "numClasses": 1000}})
    write(preset, "table1", spec(f"{prefix(preset)}table1", preset,
        f"Table 1 on {sc['data_note']}: PD, PD + perceptual, RCFD and RDD distilled 8 → 4 → 2 → 1 from the shared PD-8 model, "
        f"students evaluated at 1, 2 and 4 steps; training-free baselines on the same teacher: PD at 8 steps, DDIM at 8, "
        f"DPM-Solver at 12 (order 3), PNDM at 10. DDIM at 1024 steps is in table1-ddim1024.json (one seed: it costs 1024 U-Net passes per sample).",
        base={**data_root(preset), "evaluation": {"studentSteps": [1, 2, 4], "baselines": CHEAP_BASELINES}},
        grid={"distill.method": METHODS_T1}, seeds=sc["seeds"]))
    if preset == "small":
        write(preset, "table1-inception", spec("table1-inception", preset,
            f"Table 1's 1-step row in Inception FID on {sc['data_note']}: the students of table1.json (same trials, distillation "
            f"stages reused) evaluated again with the FID Inception-v3 (pool3, N = 2000, vs the test split) beside the classifier "
            f"metrics; about 7 minutes of Inception per evaluation on 2 cores. Report it on its own: rdd-report table1 --sweep "
            f"table1-inception (other step counts show as missing).",
            base={**data_root(preset), "evaluation": {"studentSteps": [1], "metrics": WITH_INCEPTION}},
            grid={"distill.method": METHODS_T1}, seeds=sc["seeds"]))
    write(preset, "table1-ddim1024", spec(f"{prefix(preset)}table1-ddim1024", preset,
        f"Table 1's DDIM-1024 row on {sc['data_note']}: the teacher sampled with 1024 DDIM steps (one seed), beside the PD student.",
        base={**data_root(preset), "distill": {"method": "pd", "to": 4}, "evaluation": {"studentSteps": [4], "baselines": ["ddim:1024"]}},
        seeds=[0]))
    write(preset, "table2", spec(f"{prefix(preset)}table2", preset,
        (f"Table 2 (class-conditional) on {sc['data_note']}: " if preset == "paper" else
         f"Table 2 (class-conditional) on {sc['data_note']} — stands in for ImageNet-64, which is not obtainable here: ") +
        "a class-conditional teacher and PD chain (one-hot label → Linear added to the time embedding), PD, PD + perceptual, RCFD and RDD "
        "at 1, 2 and 4 steps, and DDIM at 8 and 128 steps, PD at 8, DPM-Solver at 12, PNDM at 10 on the same teacher.",
        base=cond_base, grid={"distill.method": METHODS_T1}, seeds=sc["seeds"]))
    # Table 2's DDIM-1024 row: the conditional teacher of table2 sampled with 1024 steps, in its own spec for the
    # same reason as table1-ddim1024 (hours at `small`; one seed).
    note = sc["data_note"]
    cond_note = "ImageNet-64" if preset == "paper" else (
        note[:-1] + "; stands in for ImageNet-64)" if note.endswith(")") else note + " (stands in for ImageNet-64)")
    write(preset, "table2-ddim1024", spec(f"{prefix(preset)}table2-ddim1024", preset,
        f"Table 2's DDIM-1024 row (class-conditional) on {cond_note}: the conditional teacher of {prefix(preset)}table2 "
        f"sampled with 1024 DDIM steps (one seed), beside the PD student.",
        base={**{k: v for k, v in cond_base.items() if k != "evaluation"},
              "distill": {"method": "pd", "to": 4}, "evaluation": {"studentSteps": [4], "baselines": ["ddim:1024"]}},
        seeds=[0]))
    write(preset, "ablation", spec(f"{prefix(preset)}ablation", preset,
        f"Table 3 on {sc['data_note']}: the six loss configurations (PD, CFD = RCFD, CFD + II_P2P, CFD + IS_P2P, CFD + M_P2P, "
        f"CFD + IS_P2P + M_P2P = RDD) distilled 8 → 4 → 2 → 1, the 1-step student evaluated.",
        base={**data_root(preset), "evaluation": {"studentSteps": [1]}}, grid={"distill.method": ABLATION}, seeds=sc["seeds"]))
    write(preset, "fig6", figure(preset, sc, 6, "distillation batch size for IS_P2P, with peak memory",
        [("cfd+is_p2p", "distill.batchSize", sc["batch"])]))
    write(preset, "fig7", figure(preset, sc, 7, "temperatures τ of IS_P2P and M_P2P",
        [("cfd+is_p2p", "distill.tauIS", TAU_IS), ("cfd+m_p2p", "distill.tauContrast", TAU_M)]))
    f8 = figure(preset, sc, 8, "pixel queue size N_q and contrast sample V",
        [("cfd+m_p2p", "distill.queue.size", sc["nq"]), ("cfd+m_p2p", "distill.queue.contrastSize", sc["v"])])
    # N_q must hold V: the N_q values are ≥ the preset's default V and the V values ≤ its default N_q,
    # so each line varies one key and keeps the other at the preset default (checked by validation).
    write(preset, "fig8", f8)
    write(preset, "fig9", figure(preset, sc, 9, "loss weights α of IS_P2P and β of M_P2P",
        [("cfd+is_p2p", "distill.alpha", ALPHA), ("cfd+m_p2p", "distill.beta", BETA)]))
print("wrote specs under", os.path.normpath(ROOT))
