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

Main runs (written by `--steps S` once the pilot's export is committed under results/v2/pilot/, and committed
before they run), all with replicate = chain so seed s's classifier, evaluator, teacher and PD chain are shared by
every spec, and S steps per distillation stage with a snapshot every PILOT_EVERY steps (the pilot's interval, so
the main runs' curves show convergence on the test split — shown, never used to choose anything):
  tables      Tables 3 and 1 together: the seven losses × seeds 0–4, 1-, 2- and 4-step students at N = 2000
              against the test split, evaluator FID/KID and the classifier's (biased) FID/KID; DDIM-8, PNDM-10,
              DPM-Solver-12 and PD-8 on every seed's teacher.
  inception   the same trials' 1- and 4-step students in Inception FID (pool3, N = 2000, the 10,000-image
              test-split reference computed once and cached).
  ddim1024    DDIM-1024 on the teachers of seeds DDIM1024_SEEDS at N = 2000 (≈ 1 h of sampling per seed: what the
              budget allows; the report says which seeds).
  fig7, fig9  τ_IS (the paper's grid plus our extension 0.05, 0.1), τ_M; α, β — the 8 → 4 stage, seeds 0–2.
  fig8        N_q, V with CFD + M_P2P; S · 64 embeddings per stage refresh even the largest queue at least twice
              (checked here).
  fig6        the distillation batch size for CFD + IS_P2P, with the loss evaluation's own peak memory.
  table1      Table 1 with the paper's IS column: v2-tables' trials of PD, PD + perceptual, RCFD and RDD re-evaluated
              with v2-tables' metrics plus `score_evaluator` and `classifier_score` (the tables spec had no IS-style
              score; every training stage is reused, so it costs evaluations only). Written in session 15, before any
              of its stages ran, with table2.
  table2      Table 2 (the paper's class-conditional ImageNet 64) as class-conditional Fashion-MNIST: a conditional
              teacher and PD chain per seed, PD, PD + perceptual, RCFD and RDD at 1, 2 and 4 steps, seeds 0–2, the
              IS-style scores beside the FIDs; PD-8, DDIM-8, DPM-Solver-12, PNDM-10 and DDIM-128 on each
              teacher (DDIM-1024 left out: ≈ 1 h of sampling per seed). Last in the order, beyond the ≈ 61 h of the
              specs before it: added (session 15, before any of its stages ran) so that the command that fills it
              exists and the README can name it.
Each spec's description carries its estimated machine hours, from the pilot's own stage times (`pilot_costs`).

Run: python3 scripts/experiments/make_v2_specs.py [--steps S]. It never overwrites a spec that exists: a v2 spec
is committed before its run and never edited after (write a new one instead).
"""
import argparse, json, os, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "experiments", "v2")
SCHEMA = "../../schemas/sweep-spec.schema.json"
# Tables 1 and 3 together: PD, PD + perceptual, and the six Table 3 losses (PD counted once).
METHODS = ["pd", "pd_perceptual", "rcfd", "cfd+ii_p2p", "cfd+is_p2p", "cfd+m_p2p", "rdd"]
EVALUATOR_METRICS = ["fid_evaluator", "kid_evaluator"]
# The distillation classifier's FID stays, labelled biased (same network as the feature losses).
CLASSIFIER_METRICS = ["fid_classifier", "kid_classifier"]
# The paper's IS column (Tables 1 and 2): the IS formula on the evaluator's softmax (unbiased) and on the classifier's.
SCORE_METRICS = ["score_evaluator", "classifier_score"]
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


# ---- Main runs (after the pilot) ---------------------------------------------------------------------------------

SEEDS_TABLES, SEEDS_FIGURES, DDIM1024_SEEDS = [0, 1, 2, 3, 4], [0, 1, 2], [0, 1, 2]
BASELINES = ["pd:8", "ddim:8", "dpm_solver:12", "pndm:10"]
TAU_IS = [0.05, 0.1, 0.5, 0.7, 0.9, 1.0, 1.5]      # the paper's grid (make_specs.py) + our extension 0.05, 0.1
TAU_M = [0.05, 0.1, 0.2, 0.4, 0.8]
ALPHA = [0.2, 0.5, 0.8, 1.0, 2.0]
BETA = [0.05, 0.1, 0.3, 0.5, 1.0]
NQ, V = [1024, 2000, 4000, 8000, 12000], [128, 256, 512, 1024, 2048]
BATCH = [8, 16, 32, 64]
EMBEDDINGS_PER_STEP = 64     # small: 16 feature pixels per image × batch 32 / 8 sampled (make_specs.py, docstring)
PILOT_EXPORT = os.path.join(ROOT, "..", "..", "results", "v2", "pilot", "export.json")


def pilot_costs():
    """Seconds measured by the pilot: per distillation step of each method, per chain (classifier, evaluator,
    teacher, PD chain), per N = 2000 evaluation and per learning-curve snapshot."""
    if not os.path.exists(PILOT_EXPORT):
        sys.exit(f"{PILOT_EXPORT}: not found — commit the pilot's export (rdd-sweep export --format report) first")
    export = json.load(open(PILOT_EXPORT))
    per_step, chain, evals, snaps = {}, {}, [], []
    for t in export["trials"]:
        method = json.loads(t["configJSON"])["distill"]["method"]
        for st in t["stages"]:
            if st.get("status") != "completed" or st.get("seconds") is None:
                continue
            name, sec = st["name"], st["seconds"]
            if name.startswith("distill-"):
                per_step.setdefault(method, []).append(sec / PILOT_STEPS)
            elif name.startswith("curve-"):
                snaps.append(sec / (PILOT_STEPS // PILOT_EVERY + 1))
            elif name.startswith("eval"):
                evals.append(sec)
            else:
                chain[name] = sec
    missing = [m for m in METHODS if m not in per_step]
    if missing:
        sys.exit(f"{PILOT_EXPORT}: no completed distillation stage for {missing}: finish the pilot first")
    mean = lambda xs: sum(xs) / len(xs)
    return ({m: mean(v) for m, v in per_step.items()}, sum(chain.values()), mean(evals), mean(snaps))


def hours(x):
    return f"{x / 3600:.1f}"


def main_specs(steps):
    if steps % PILOT_EVERY or not (4 * PILOT_EVERY <= steps <= PILOT_STEPS):
        sys.exit(f"--steps {steps}: must be a multiple of {PILOT_EVERY} in [{4 * PILOT_EVERY}, {PILOT_STEPS}] (the pilot's rule)")
    if steps * EMBEDDINGS_PER_STEP < 2 * max(NQ):
        sys.exit(f"--steps {steps}: {steps * EMBEDDINGS_PER_STEP} embeddings per stage do not refresh N_q = {max(NQ)} twice")
    per_step, chain, evaluation, snapshot = pilot_costs()
    snaps = steps // PILOT_EVERY + 1
    stage = lambda m: steps * per_step[m] + snaps * snapshot        # one distillation stage and its curve
    curves = {"every": PILOT_EVERY, "everySamples": PILOT_CURVE_N}
    common = (f"Fashion-MNIST 16×16, replicate = chain (each seed's classifier, evaluator, teacher and PD chain, shared by "
              f"every v2 spec), {steps} steps per distillation stage (the pilot's rule, results/v2/pilot/plateau.md)")

    t_tables = (len(SEEDS_TABLES) * chain
                + len(SEEDS_TABLES) * sum(3 * stage(m) + 3 * evaluation for m in METHODS)
                + len(SEEDS_TABLES) * len(BASELINES) * evaluation)
    write("tables", {
        "$schema": SCHEMA, "name": "v2-tables",
        "description": (f"v2 Tables 3 and 1 (issue 24 §5): the seven losses distilled 8 → 4 → 2 → 1 on {common}; seeds "
                        f"{SEEDS_TABLES[0]}–{SEEDS_TABLES[-1]}; the 1-, 2- and 4-step students at N = 2000 against the test "
                        f"split: independent-evaluator FID and KID, and the distillation classifier's FID/KID (biased toward "
                        f"feature matching); learning curves every {PILOT_EVERY} steps (N = {PILOT_CURVE_N}); DDIM-8, PNDM-10, "
                        f"DPM-Solver-12 and PD-8 on every seed's teacher. Estimated {hours(t_tables)} machine hours on 2 cores "
                        f"(from the pilot's stage times)."),
        "preset": "small",
        "base": {"replicate": "chain", "distill": {"steps": [steps] * 3},
                 "evaluation": {"samples": 2000, "studentSteps": [1, 2, 4], "metrics": EVALUATOR_METRICS + CLASSIFIER_METRICS,
                                "baselines": BASELINES, **curves}},
        "grid": {"distill.method": METHODS}, "seeds": SEEDS_TABLES, "execution": {"logEvery": 10}})

    inception_eval = 2000 / 12 + 12 + evaluation    # ≈ 12 images/s of Inception features on 2 cores (docs/benchmarks.md) + the FID
    t_inception = len(SEEDS_TABLES) * len(METHODS) * 2 * inception_eval
    write("inception", {
        "$schema": SCHEMA, "name": "v2-inception",
        "description": (f"v2 Inception FID (issue 24 §4) of v2-tables' 1- and 4-step students (same trials: every training "
                        f"stage reused): FID Inception-v3 pool3, N = 2000, against the 10,000-image test split (its "
                        f"statistics computed once and cached), beside the evaluator's and classifier's metrics. Estimated "
                        f"{hours(t_inception)} machine hours once v2-tables has run."),
        "preset": "small",
        "base": {"replicate": "chain", "distill": {"steps": [steps] * 3},
                 "evaluation": {"samples": 2000, "studentSteps": [1, 4],
                                "metrics": EVALUATOR_METRICS + CLASSIFIER_METRICS + ["fid_inception"], **curves}},
        "grid": {"distill.method": METHODS}, "seeds": SEEDS_TABLES})

    write("ddim1024", {
        "$schema": SCHEMA, "name": "v2-ddim1024",
        "description": (f"v2 DDIM-1024 row of Table 1: the teachers of seeds {DDIM1024_SEEDS} (v2-tables' chains) sampled with "
                        f"1024 DDIM steps, N = 2000 against the test split, beside the PD 4-step student. Seeds 3 and 4 are "
                        f"left out for the budget: 1024 U-Net passes per image are ≈ 1 h of sampling per seed on 2 cores "
                        f"(results/benchmarks/sampling-small.json); `rdd-sweep run` of a copy with seeds [3, 4] fills them."),
        "preset": "small",
        "base": {"replicate": "chain", "distill": {"method": "pd", "to": 4, "steps": [steps]},
                 "evaluation": {"samples": 2000, "studentSteps": [4], "metrics": EVALUATOR_METRICS + CLASSIFIER_METRICS,
                                "baselines": ["ddim:1024"], **curves}},
        "seeds": DDIM1024_SEEDS})

    def figure(name, number, title, lines, extra=""):
        trials = [{"distill.method": "rcfd"}] + [{"distill.method": m, key: v} for m, key, values in lines for v in values]
        t = len(SEEDS_FIGURES) * sum(stage(tr["distill.method"]) + evaluation for tr in trials)
        write(name, {
            "$schema": SCHEMA, "name": f"v2-{name}",
            "description": (f"v2 Fig. {number} ({title}) on {common}: the 8-step PD model is the teacher, one stage 8 → 4, "
                            f"the 4-step student evaluated at N = 2000 against the test split (evaluator FID/KID, classifier "
                            f"FID/KID); RCFD 8 → 4 is the reference line; seeds {SEEDS_FIGURES[0]}–{SEEDS_FIGURES[-1]}.{extra} "
                            f"Estimated {hours(t)} machine hours."),
            "preset": "small",
            "base": {"replicate": "chain", "distill": {"to": 4, "steps": [steps]},
                     "evaluation": {"samples": 2000, "studentSteps": [4], "metrics": EVALUATOR_METRICS + CLASSIFIER_METRICS,
                                    **curves}},
            "trials": trials, "seeds": SEEDS_FIGURES})

    figure("fig7", 7, "temperatures τ_IS of IS_P2P and τ_M of M_P2P",
           [("cfd+is_p2p", "distill.tauIS", TAU_IS), ("cfd+m_p2p", "distill.tauContrast", TAU_M)],
           " τ_IS 0.05 and 0.1 extend the paper's grid to where the relation softmax stops being nearly uniform (issue 24 §5).")
    figure("fig9", 9, "loss weights α of IS_P2P and β of M_P2P",
           [("cfd+is_p2p", "distill.alpha", ALPHA), ("cfd+m_p2p", "distill.beta", BETA)])
    figure("fig8", 8, "pixel queue size N_q and contrast sample V",
           [("cfd+m_p2p", "distill.queue.size", NQ), ("cfd+m_p2p", "distill.queue.contrastSize", V)],
           f" {steps * EMBEDDINGS_PER_STEP} embeddings enqueued per stage: even N_q = {max(NQ)} is refreshed "
           f"{steps * EMBEDDINGS_PER_STEP / max(NQ):.1f} times (the report lists the refills per cell).")
    figure("fig6", 6, "distillation batch size for IS_P2P, with the loss evaluation's own peak memory",
           [("cfd+is_p2p", "distill.batchSize", BATCH)])


    # Table 1 with its IS column: v2-tables' metrics lack an IS-style score (the tables spec asked for FID and KID
    # only), so this re-evaluates Table 1's cells — the same trials, every training stage and curve reused — with
    # every metric of v2-tables plus `score_evaluator` (the IS formula on the independent evaluator's softmax) and
    # `classifier_score` (the same on the distillation classifier's, biased). Its Table 1 report is v2's Table 1.
    t1_methods = ["pd", "pd_perceptual", "rcfd", "rdd"]
    t_table1 = len(SEEDS_TABLES) * (len(t1_methods) * 3 + len(BASELINES)) * evaluation
    write("table1", {
        "$schema": SCHEMA, "name": "v2-table1",
        "description": (f"v2 Table 1 with the paper's IS column (issue 24 §5): v2-tables' trials for PD, PD + perceptual, "
                        f"RCFD and RDD (every training stage and curve reused) re-evaluated at 1, 2 and 4 steps and on the "
                        f"baselines DDIM-8, PNDM-10, DPM-Solver-12, PD-8, N = 2000 against the test split, with v2-tables' "
                        f"metrics plus the IS-style scores: `score_evaluator` (the IS formula on the independent evaluator's "
                        f"softmax, which no loss sees) and `classifier_score` (on the distillation classifier's, biased). "
                        f"Seeds {SEEDS_TABLES[0]}–{SEEDS_TABLES[-1]}. Estimated {hours(t_table1)} machine hours once "
                        f"v2-tables has run (evaluations only)."),
        "preset": "small",
        "base": {"replicate": "chain", "distill": {"steps": [steps] * 3},
                 "evaluation": {"samples": 2000, "studentSteps": [1, 2, 4],
                                "metrics": EVALUATOR_METRICS + CLASSIFIER_METRICS + SCORE_METRICS,
                                "baselines": BASELINES, **curves}},
        "grid": {"distill.method": t1_methods}, "seeds": SEEDS_TABLES, "execution": {"logEvery": 10}})

    # Table 2: the paper's four methods on a class-conditional chain (one-hot label → Linear added to the time
    # embedding, docs/architecture.md), as v1's experiments/table2.json; its own teacher and PD chain per seed
    # (a conditional teacher is a different stage), the classifier and evaluator shared with the other specs.
    t2_methods, t2_baselines = ["pd", "pd_perceptual", "rcfd", "rdd"], BASELINES + ["ddim:128"]
    ddim128 = 128 / 1024 * 3600                                          # ≈ 1 h per 2000 images at 1024 steps
    t_table2 = len(SEEDS_FIGURES) * (chain + sum(3 * stage(m) + 3 * evaluation for m in t2_methods)
                                     + len(BASELINES) * evaluation + ddim128)
    write("table2", {
        "$schema": SCHEMA, "name": "v2-table2",
        "description": (f"v2 Table 2 (issue 24 §5, last: the paper's class-conditional ImageNet 64) as class-conditional "
                        f"{common}; PD, PD + perceptual, RCFD and RDD distilled 8 → 4 → 2 → 1 on seeds "
                        f"{SEEDS_FIGURES[0]}–{SEEDS_FIGURES[-1]}, the 1-, 2- and 4-step students at N = 2000 against the test "
                        f"split (evaluator FID/KID and IS-style score `score_evaluator`; the classifier's FID/KID and score, "
                        f"biased toward feature matching); PD-8, DDIM-8, DPM-Solver-12, PNDM-10 and DDIM-128 on every seed's conditional teacher "
                        f"(DDIM-1024 left out: ≈ 1 h of sampling per seed). Estimated {hours(t_table2)} machine hours on 2 "
                        f"cores (from the pilot's stage times; the conditional chain costed as the unconditional one)."),
        "preset": "small",
        "base": {"replicate": "chain", "conditional": True, "unet": {"numClasses": 10}, "distill": {"steps": [steps] * 3},
                 "evaluation": {"samples": 2000, "studentSteps": [1, 2, 4],
                                "metrics": EVALUATOR_METRICS + CLASSIFIER_METRICS + SCORE_METRICS,
                                "baselines": t2_baselines, **curves}},
        "grid": {"distill.method": t2_methods}, "seeds": SEEDS_FIGURES, "execution": {"logEvery": 10}})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Writes the v2 specs (never overwriting one).")
    parser.add_argument("--steps", type=int, help="steps per distillation stage chosen by the pilot (writes the main specs)")
    args = parser.parse_args()
    if args.steps is not None:
        main_specs(args.steps)
