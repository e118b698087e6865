#!/usr/bin/env python3
"""Writes the v2 reproduction specs (issue 24): experiments/v2/<name>.json at the `small` preset.

v2 retests the paper's claims with the independent evaluator, replicate = chain and converged students.
Its rules, fixed here before any v2 stage runs (experiments/v2/README.md says the same in prose):

Pilot (experiments/v2/pilot.json, seed 0, replicate = chain so its classifier, evaluator, teacher and PD chain
are seed 0's of the main runs): every loss of Tables 1 and 3 distilled 8 → 4 → 2 → 1 with PILOT_STEPS steps
per stage, a student snapshot every PILOT_EVERY steps scored with the independent evaluator's FID on
PILOT_CURVE_N samples, and every evaluation against the VALIDATION set (`evaluation.reference: validation`,
training-split images; docs/metrics.md "Reference sets"). Nothing in v2 is chosen by a test-split number.

The steps-per-stage rule the pilot applies (decided before it runs): S = the smallest multiple of PILOT_EVERY in
[2·PILOT_EVERY, PILOT_STEPS] such that for every method and every stage of the pilot
  (a) the distillation loss `total`, restricted to steps ≤ S, reads "converged" by the reports' rule
      (docs/reports.md: least-squares fall over the last quarter ≤ 5 %), and
  (b) the validation evaluator-FID snapshots in [S/2, S] — at least three of them, so S ≥ 4·PILOT_EVERY —
      have a least-squares fall ≤ 5 % of their mean.
If no S qualifies, the main runs use PILOT_STEPS and the reports flag the stages that did not plateau.
`rdd-report plateau --sweep v2-pilot` applies this rule to the pilot's export (Sources/Report/Plateau.swift).
(The "at least three" was added while the pilot's classifier and teacher trained, before any distillation stage
or evaluation of it had run: two snapshots give a fall that is one noisy difference.)

Scaling from the paper (CIFAR-10, 20,000 steps per stage, batch 32) to `small` (Fashion-MNIST 16×16, batch 32):
the pilot measures the steps instead of scaling them; v1's 200 steps per stage left RCFD/RDD losses falling
10–26 % over their last quarter.

Run: python3 scripts/experiments/make_v2_specs.py. It never overwrites a spec that exists: a v2 spec is
committed before its run and never edited after (write a new one instead).
"""
import json, os, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "experiments", "v2")
SCHEMA = "../../schemas/sweep-spec.schema.json"
# Tables 1 and 3 together: PD, PD + perceptual, and the six Table 3 losses (PD counted once).
METHODS = ["pd", "pd_perceptual", "rcfd", "cfd+ii_p2p", "cfd+is_p2p", "cfd+m_p2p", "rdd"]
EVALUATOR_METRICS = ["fid_evaluator", "kid_evaluator"]
# The distillation classifier's FID stays, labelled biased (same network as the feature losses).
CLASSIFIER_METRICS = ["fid_classifier", "kid_classifier"]
PILOT_STEPS, PILOT_EVERY, PILOT_CURVE_N = 1600, 200, 500


def write(name, spec):
    path = os.path.join(ROOT, name + ".json")
    if os.path.exists(path):
        print(f"{path}: exists — v2 specs are never rewritten (write a new one)", file=sys.stderr)
        return
    os.makedirs(ROOT, exist_ok=True)
    with open(path, "w") as f:
        json.dump(spec, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote", path)


write("pilot", {
    "$schema": SCHEMA,
    "name": "v2-pilot",
    "description": (
        f"v2 pilot (issue 24 §2) on Fashion-MNIST 16×16: the seven losses of Tables 1 and 3 distilled 8 → 4 → 2 → 1 "
        f"with {PILOT_STEPS} steps per stage (8× v1's 200), seed 0 with replicate = chain (its classifier, evaluator, "
        f"teacher and PD chain are the main runs' seed 0), a student snapshot every {PILOT_EVERY} steps scored with the "
        f"independent evaluator's FID at N = {PILOT_CURVE_N}, and the 1-, 2- and 4-step students evaluated at N = 2000 — "
        f"every evaluation against the VALIDATION set (training-split images), never the test split. It fixes the main "
        f"runs' steps per stage by the rule in scripts/experiments/make_v2_specs.py. Estimated 5 machine hours on 2 "
        f"cores (chain ≈ 1 h, classifier + evaluator ≈ 0.3 h, 21 stages × {PILOT_STEPS} steps × ≈ 0.35–0.5 s ≈ 3.3–4.7 h, "
        f"curves and evaluations ≈ 0.3 h)."),
    "preset": "small",
    "base": {
        "replicate": "chain",
        "distill": {"steps": [PILOT_STEPS] * 3},
        "evaluation": {
            "reference": "validation",
            "samples": 2000,
            "studentSteps": [1, 2, 4],
            "metrics": EVALUATOR_METRICS + CLASSIFIER_METRICS,
            "every": PILOT_EVERY,
            "everySamples": PILOT_CURVE_N,
        },
    },
    "grid": {"distill.method": METHODS},
    "seeds": [0],
    "execution": {"logEvery": 10},
})
