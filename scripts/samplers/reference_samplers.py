#!/usr/bin/env python3
"""Independent Float64 numpy reference for the two training-free samplers (docs/samplers.md).

Re-implements, without looking at the Swift code and following the structure of the official code:
  * the discrete cosine schedule of spec §1.1 (1025 levels, Float64),
  * DPM-Solver++ multistep (Lu et al. 2022; dpm_solver_pytorch.py `DPM_Solver.sample(method='multistep')`,
    algorithm_type='dpmsolver++', solver_type='dpmsolver'), with the network wrapped as the official
    `model_wrapper(model_type="x_start")` does (x̂ → ε → x0 round trip),
  * F-PNDM and S-PNDM (Liu et al. 2022; luping-liu/PNDM runner/method.py `gen_order_4`, `gen_order_2`,
    `runge_kutta`, `improved_eular`, `transfer`) with ε̂ = (z − α x̂)/σ,
  * the deterministic DDIM of spec §1.7,
on the analytic "perfect denoiser" for per-pixel Gaussian data x ~ N(mu, s²):
    x̂(z, k) = mu + s² α_k (z − α_k mu) / (α_k² s² + σ_k²).

The continuous-time ↔ grid mapping is the one documented in docs/samplers.md: the official discrete
wrapper's t_k = (k + 1)/N (N = 1025 levels) and model input (t − 1/N)·N = k, rounded to the nearest grid
index; all solver coefficients then use the Float64 tables at those integer indices. PNDM uses the
authors' leading spacing: start round(1024·(steps − 1)/steps), then `steps` equal intervals to index 0.

Writes scripts/samplers/sampler_fixture.json (read by Tests/DiffusionTests/SamplerTests.swift).
Usage: python3 scripts/samplers/reference_samplers.py [output.json]
"""
import json
import math
import os
import sys

import numpy as np

N_LEVELS = 1025
MAX_INDEX = 1024


# ---------------------------------------------------------------- schedule (spec §1.1)
def cosine_schedule():
    f = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
    fs = [f(k / N_LEVELS) for k in range(N_LEVELS + 1)]
    betas = np.array([min(1 - fs[k + 1] / fs[k], 0.999) for k in range(N_LEVELS)], dtype=np.float64)
    alphas_bar = np.cumprod(1 - betas)
    return np.sqrt(alphas_bar), np.sqrt(1 - alphas_bar), alphas_bar


ALPHA, SIGMA, ALPHA_BAR = cosine_schedule()
LOG_ALPHA = np.log(ALPHA)
LAMBDA = np.log(ALPHA) - np.log(SIGMA)          # half-logSNR, λ_k = log(α_k/σ_k)
T_ARRAY = np.arange(1, N_LEVELS + 1, dtype=np.float64) / N_LEVELS   # official t_k = (k+1)/N


def t_to_index(t):
    """Official discrete model-input time (t − 1/N)·N, rounded half away from zero."""
    v = (t - 1.0 / N_LEVELS) * N_LEVELS
    return int(math.floor(v + 0.5))


def inverse_lambda(lam):
    """Official NoiseScheduleVP.inverse_lambda for 'discrete': piecewise-linear in log α over t."""
    log_alpha = -0.5 * np.logaddexp(0.0, -2.0 * lam)
    xs = LOG_ALPHA[::-1]          # increasing
    ys = T_ARRAY[::-1]
    return float(np.interp(log_alpha, xs, ys))


def dpm_time_steps(steps, skip_type, start=MAX_INDEX, end=0):
    t_T, t_0 = (start + 1) / N_LEVELS, (end + 1) / N_LEVELS
    if skip_type == "time_uniform":
        ts = np.linspace(t_T, t_0, steps + 1)
    elif skip_type == "logSNR":
        lams = np.linspace(LAMBDA[start], LAMBDA[end], steps + 1)
        ts = np.array([inverse_lambda(l) for l in lams])
    elif skip_type == "time_quadratic":
        ts = np.linspace(t_T ** 0.5, t_0 ** 0.5, steps + 1) ** 2
    else:
        raise ValueError(skip_type)
    ks = [t_to_index(t) for t in ts]
    ks[0], ks[-1] = start, end
    out = []
    for k in ks:                   # drop repeats created by rounding (strictly decreasing)
        if not out or k < out[-1]:
            out.append(k)
    return out


# ---------------------------------------------------------------- analytic denoiser
class Gaussian:
    def __init__(self, mu, s):
        self.mu, self.s = mu, s
        self.calls = []

    def xhat(self, z, k):
        self.calls.append(int(k))
        a, sg = ALPHA[k], SIGMA[k]
        return self.mu + self.s ** 2 * a * (z - a * self.mu) / (a * a * self.s ** 2 + sg * sg)

    def exact_endpoint(self, zT, start=MAX_INDEX, end=0):
        def sd(k):
            return math.sqrt(ALPHA[k] ** 2 * self.s ** 2 + SIGMA[k] ** 2)
        return ALPHA[end] * self.mu + sd(end) * (zT - ALPHA[start] * self.mu) / sd(start)


def correct_x0(x0, correction):
    if correction == "none":
        return x0
    if correction == "clip":
        return np.clip(x0, -1.0, 1.0)
    raise ValueError(correction)


# ---------------------------------------------------------------- DPM-Solver++ (multistep)
def dpm_solver_pp(model, x, steps, order, skip_type="time_uniform", lower_order_final=True,
                  correction="none", start=MAX_INDEX, end=0):
    ks = dpm_time_steps(steps, skip_type, start, end)
    steps = len(ks) - 1

    # model_wrapper(model_type="x_start") → noise, then data_prediction_fn → x0. The round trip
    # (x − σ·ε)/α is exact in exact arithmetic; at k = 1024 (α ≈ 5e-5) it loses digits even in Float64,
    # so the reference uses x̂ directly there (the Swift code uses x̂ directly everywhere).
    def model_fn(x, k):
        out = model.xhat(x, k)
        noise = (x - ALPHA[k] * out) / SIGMA[k]
        x0 = (x - SIGMA[k] * noise) / ALPHA[k] if ALPHA[k] > 1e-3 else out
        return correct_x0(x0, correction)

    def first(x, m, s, t):
        h = LAMBDA[t] - LAMBDA[s]
        phi1 = np.expm1(-h)
        return SIGMA[t] / SIGMA[s] * x - ALPHA[t] * phi1 * m[-1]

    def second(x, m, tp, t):
        l1, l0, lt = LAMBDA[tp[-2]], LAMBDA[tp[-1]], LAMBDA[t]
        h0, h = l0 - l1, lt - l0
        r0 = h0 / h
        D1_0 = (1.0 / r0) * (m[-1] - m[-2])
        phi1 = np.expm1(-h)
        return SIGMA[t] / SIGMA[tp[-1]] * x - ALPHA[t] * phi1 * m[-1] - 0.5 * (ALPHA[t] * phi1) * D1_0

    def third(x, m, tp, t):
        l2, l1, l0, lt = LAMBDA[tp[-3]], LAMBDA[tp[-2]], LAMBDA[tp[-1]], LAMBDA[t]
        h1, h0, h = l1 - l2, l0 - l1, lt - l0
        r0, r1 = h0 / h, h1 / h
        D1_0 = (1.0 / r0) * (m[-1] - m[-2])
        D1_1 = (1.0 / r1) * (m[-2] - m[-3])
        D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1)
        D2 = (1.0 / (r0 + r1)) * (D1_0 - D1_1)
        phi1 = np.expm1(-h)
        phi2 = phi1 / h + 1.0
        phi3 = phi2 / h - 0.5
        return (SIGMA[t] / SIGMA[tp[-1]] * x - ALPHA[t] * phi1 * m[-1]
                + ALPHA[t] * phi2 * D1 - ALPHA[t] * phi3 * D2)

    def update(x, m, tp, t, o):
        return {1: lambda: first(x, m, tp[-1], t), 2: lambda: second(x, m, tp, t),
                3: lambda: third(x, m, tp, t)}[o]()

    assert steps >= order
    traj = []
    t_prev = [ks[0]]
    m_prev = [model_fn(x, ks[0])]
    for step in range(1, order):
        t = ks[step]
        x = update(x, m_prev, t_prev, t, step)
        traj.append(x.copy())
        t_prev.append(t)
        m_prev.append(model_fn(x, t))
    for step in range(order, steps + 1):
        t = ks[step]
        if lower_order_final and steps < 10:
            step_order = min(order, steps + 1 - step)
        else:
            step_order = order
        x = update(x, m_prev, t_prev, t, step_order)
        traj.append(x.copy())
        t_prev = (t_prev + [t])[-order:]
        if step < steps:
            m_prev = (m_prev + [model_fn(x, t)])[-order:]
        else:
            m_prev = m_prev[-order:]
    return np.clip(x, -1, 1), traj, ks


# ---------------------------------------------------------------- PNDM (runner/method.py)
def pndm_default_start(steps):
    """Leading spacing as the authors' range(0, T, T // steps): first call (steps − 1)/steps of the way up."""
    return int(math.floor(MAX_INDEX * (steps - 1) / steps + 0.5))


def pndm_indices(steps, start=None, end=0):
    start = pndm_default_start(steps) if start is None else start
    return [end + int(math.floor((start - end) * (steps - i) / steps + 0.5)) for i in range(steps + 1)]


def transfer(x, k, k_next, et):
    at, at_next = ALPHA_BAR[k], ALPHA_BAR[k_next]
    x_delta = (at_next - at) * ((1 / (math.sqrt(at) * (math.sqrt(at) + math.sqrt(at_next)))) * x
                                - 1 / (math.sqrt(at) * (math.sqrt((1 - at_next) * at) + math.sqrt((1 - at) * at_next))) * et)
    return x + x_delta


def pndm(model, x, steps, variant="F", correction="none", start=None, end=0):
    ks = pndm_indices(steps, start, end)

    def eps(x, k):
        x0 = correct_x0(model.xhat(x, k), correction)
        return (x - ALPHA[k] * x0) / SIGMA[k]

    ets = []
    traj = []
    for k, kn in zip(ks[:-1], ks[1:]):
        if variant == "F":
            if len(ets) > 2:
                ets.append(eps(x, k))
                noise = (1 / 24) * (55 * ets[-1] - 59 * ets[-2] + 37 * ets[-3] - 9 * ets[-4])
            else:
                km = (k + kn) // 2
                e1 = eps(x, k); ets.append(e1)
                x2 = transfer(x, k, km, e1)
                e2 = eps(x2, km)
                x3 = transfer(x, k, km, e2)
                e3 = eps(x3, km)
                x4 = transfer(x, k, kn, e3)
                e4 = eps(x4, kn)
                noise = (1 / 6) * (e1 + 2 * e2 + 2 * e3 + e4)
        else:
            if len(ets) > 0:
                ets.append(eps(x, k))
                noise = 0.5 * (3 * ets[-1] - ets[-2])
            else:
                e1 = eps(x, k); ets.append(e1)
                x2 = transfer(x, k, kn, e1)
                e2 = eps(x2, kn)
                noise = (e1 + e2) / 2
        x = transfer(x, k, kn, noise)
        traj.append(x.copy())
    return np.clip(x, -1, 1), traj, ks


# ---------------------------------------------------------------- DDIM (spec §1.7)
def ddim(model, x, ks):
    traj = []
    for k, kn in zip(ks[:-1], ks[1:]):
        x0 = np.clip(model.xhat(x, k), -1, 1)
        e = (x - ALPHA[k] * x0) / SIGMA[k]
        x = ALPHA[kn] * x0 + SIGMA[kn] * e
        traj.append(x.copy())
    return np.clip(x, -1, 1), traj


# ---------------------------------------------------------------- fixture
def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "sampler_fixture.json")
    mu, s = 0.1, 0.2
    # Eight fixed 1-pixel starting noises (exactly representable in Float32), spanning the usual range.
    xT = np.array([-3.0, -1.75, -0.8125, -0.25, 0.0, 0.5, 1.375, 2.5], dtype=np.float64)
    cases = []
    configs = [
        ("dpmsolver++", dict(steps=12, order=2, skip_type="time_uniform")),
        ("dpmsolver++", dict(steps=12, order=3, skip_type="time_uniform")),
        ("dpmsolver++", dict(steps=12, order=2, skip_type="logSNR")),
        ("dpmsolver++", dict(steps=12, order=2, skip_type="time_quadratic")),
        ("dpmsolver++", dict(steps=6, order=2, skip_type="time_uniform")),
        ("dpmsolver++", dict(steps=6, order=3, skip_type="time_uniform")),
        ("dpmsolver++", dict(steps=6, order=2, skip_type="time_uniform", lower_order_final=False)),
        ("dpmsolver++", dict(steps=12, order=2, skip_type="time_uniform", correction="clip", mu=0.6, s=0.5)),
        ("dpmsolver++", dict(steps=12, order=2, skip_type="time_uniform", start=1019)),
        ("dpmsolver++", dict(steps=12, order=2, skip_type="logSNR", start=1019)),
        ("dpmsolver++", dict(steps=12, order=3, skip_type="logSNR", start=1019)),
        ("pndm", dict(steps=10, variant="F")),
        ("pndm", dict(steps=10, variant="S")),
        ("pndm", dict(steps=5, variant="F")),
        ("pndm", dict(steps=12, variant="F")),
        ("pndm", dict(steps=10, variant="F", correction="clip", mu=0.6, s=0.5)),
    ]
    for name, cfg in configs:
        cfg = dict(cfg)
        m = Gaussian(cfg.pop("mu", mu), cfg.pop("s", s))
        if name == "dpmsolver++":
            final, traj, ks = dpm_solver_pp(m, xT.copy(), **cfg)
        else:
            final, traj, ks = pndm(m, xT.copy(), **cfg)
        start = ks[0]
        case = dict(sampler=name, mu=m.mu, s=m.s, **cfg)
        case.update(indices=ks, evaluated_indices=m.calls, nfe=len(m.calls),
                    trajectory=[t.tolist() for t in traj], final=final.tolist(),
                    exact_endpoint=[m.exact_endpoint(v, start=start) for v in xT])
        cases.append(case)
    m = Gaussian(mu, s)
    ddim_final, _ = ddim(m, xT.copy(), list(range(MAX_INDEX, -1, -1)))
    doc = dict(
        description="Float64 numpy reference trajectories (scripts/samplers/reference_samplers.py); "
                    "analytic Gaussian denoiser x̂ = mu + s²α(z − αmu)/(α²s² + σ²) on the 1025-level cosine grid.",
        xT=xT.tolist(),
        schedule_check=dict(alpha_0=ALPHA[0], sigma_0=SIGMA[0], alpha_1024=ALPHA[1024], lambda_512=LAMBDA[512]),
        ddim_1024=dict(mu=mu, s=s, final=ddim_final.tolist()),
        cases=cases,
    )
    with open(out_path, "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    for c in cases:
        err = np.max(np.abs(np.array(c["final"]) - np.clip(c["exact_endpoint"], -1, 1)))
        extra = {k: c[k] for k in ("order", "skip_type", "variant", "correction", "start", "lower_order_final") if k in c}
        print(f"{c['sampler']:12s} steps={c['steps']:3d} {extra} nfe={c['nfe']:3d} "
              f"max|final−exact ODE|={err:.3e} indices={c['indices']}")
    print("DDIM 1024 max|final−exact|:", np.max(np.abs(ddim_final - np.array([m.exact_endpoint(v) for v in xT]))))


if __name__ == "__main__":
    main()
