#!/usr/bin/env python3
"""Reference values for the Swift metrics (Sources/Metrics), written to a JSON fixture.

For each case it records the inputs (float32 features or probabilities, stored exactly) and values from
independent computations:

* FID, the reference pipeline: pytorch-ddpm / RCFD `score/fid.py::calculate_frechet_distance`, numpy
  branch, transcribed below: np.cov(rowvar=False) in float64, scipy.linalg.sqrtm(sigma1 @ sigma2),
  retry with 1e-6 on both diagonals if the result is non-finite, drop the imaginary part when the
  diagonal's imaginary parts are within 1e-3 of 0 (else raise). Also the value its 1e-6 retry would
  give if forced (documented in docs/metrics.md).
* FID, exact: mean, covariance and the eigenvalues of the non-symmetric product S1 S2 computed by
  mpmath at 60 digits directly from the features (a route independent of both the Swift code and
  scipy; singular covariances stay exactly singular); negative real parts set to 0, imaginary dropped.
* FID, numpy eigvals of sigma1 @ sigma2 in float64 (a third, plain route).
* KID: a literal transcription of clean-fid's `kernel_distance` per subset (float64), on explicit
  subset indices stored in the fixture, plus the general unbiased MMD^2 on whole sets (m != n allowed).
* IS: the numpy branch of pytorch-ddpm `score/both.py` (10 splits of rows i*N//10, np.std).

Usage: python3 scripts/fid_reference.py [output.json]
(default Tests/MetricsTests/Fixtures/metrics_reference.json). Needs numpy, scipy, mpmath.
"""
import json
import sys
import warnings

import mpmath
import numpy as np
import scipy
from scipy import linalg


def reference_fid(mu1, sigma1, mu2, sigma2, eps=1e-6, force_retry=False):
    """calculate_frechet_distance (numpy branch) of pytorch-ddpm / RCFD score/fid.py.

    scipy >= 1.16 deprecates sqrtm's `disp` argument; without it sqrtm returns only the matrix, which is
    what the original `covmean, _ = sqrtm(..., disp=False)` kept.
    """
    info = {"retried_with_offset": False}
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if force_retry or not np.isfinite(covmean).all():
            info["retried_with_offset"] = True
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    info["max_abs_imag_diagonal"] = float(np.max(np.abs(np.diagonal(covmean).imag))) if np.iscomplexobj(covmean) else 0.0
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError("Imaginary component {}".format(np.max(np.abs(covmean.imag))))
        covmean = covmean.real
    tr_covmean = np.trace(covmean)
    value = diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean
    return float(value), info


def exact_fid_mp(f1, f2, digits=60):
    """The FID of the features themselves, in mpmath at `digits` digits: exact mean and covariance of the
    (dyadic, exactly representable) float32 features, then Tr sqrt(S1 S2) from the eigenvalues of the
    non-symmetric product. A singular covariance stays exactly singular here, so zero eigenvalues
    contribute ~1e-30, not the ~1e-8 that float64 rounding noise under a square root contributes."""
    with mpmath.workdps(digits):
        def stats(f):
            n, d = f.shape
            rows = [[mpmath.mpf(float(v)) for v in r] for r in f]
            mu = [sum(r[j] for r in rows) / n for j in range(d)]
            c = mpmath.matrix(d, d)
            for r in rows:
                for i in range(d):
                    di = r[i] - mu[i]
                    for j in range(d):
                        c[i, j] += di * (r[j] - mu[j])
            return mu, c / (n - 1)
        mu1, c1 = stats(f1)
        mu2, c2 = stats(f2)
        d = len(mu1)
        ev = mpmath.eig(c1 * c2, left=False, right=False)
        tr = mpmath.mpf(0)
        for e in ev:
            if mpmath.re(e) > 0:
                tr += mpmath.sqrt(mpmath.re(e))
        value = sum((mu1[j] - mu2[j]) ** 2 for j in range(d)) + sum(c1[j, j] + c2[j, j] for j in range(d)) - 2 * tr
        return float(value)


def fid_from_trace(mu1, sigma1, mu2, sigma2, tr):
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)


def quantise(f):
    """float32 features on a 1/64 grid: exact in float32, float64 and short JSON decimals."""
    return (np.round(np.asarray(f, dtype=np.float64) * 64) / 64).astype(np.float32)


def fid_case(name, f1, f2, store_statistics=False):
    f1 = quantise(f1)
    f2 = quantise(f2)
    a1 = f1.astype(np.float64)   # as pytorch-ddpm: float32 features stored in a float64 array
    a2 = f2.astype(np.float64)
    mu1, mu2 = np.mean(a1, axis=0), np.mean(a2, axis=0)
    s1, s2 = np.cov(a1, rowvar=False), np.cov(a2, rowvar=False)
    ref, info = reference_fid(mu1, s1, mu2, s2)
    forced, _ = reference_fid(mu1, s1, mu2, s2, force_retry=True)
    ev = np.linalg.eigvals(s1.dot(s2)).real
    tr_np = float(np.sum(np.sqrt(np.clip(ev, 0, None))))
    case = {
        "name": name,
        "n1": int(f1.shape[0]), "n2": int(f2.shape[0]), "d": int(f1.shape[1]),
        "features1": [float(v) for v in f1.ravel()],
        "features2": [float(v) for v in f2.ravel()],
        "rank1": int(np.linalg.matrix_rank(s1)), "rank2": int(np.linalg.matrix_rank(s2)),
        "fid_reference_pipeline": ref,
        "reference_pipeline_info": info,
        # What the pipeline's 1e-6 diagonal-offset retry would give (documentation only).
        "fid_reference_forced_retry": forced,
        "fid_exact": exact_fid_mp(f1, f2),
        "fid_numpy_eigvals": fid_from_trace(mu1, s1, mu2, s2, tr_np),
        "trace_sigma1": float(np.trace(s1)), "trace_sigma2": float(np.trace(s2)),
    }
    if store_statistics:
        case.update({"mu1": mu1.tolist(), "mu2": mu2.tolist(),
                     "sigma1": s1.ravel().tolist(), "sigma2": s2.ravel().tolist()})
    return case


def clean_fid_subset_term(x, y):
    """One subset's term of clean-fid `kernel_distance`, divided by m (so it is the unbiased MMD^2)."""
    n = x.shape[1]
    m = x.shape[0]
    a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
    b = (x @ y.T / n + 1) ** 3
    t = (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(t / m)


def mmd2_unbiased(x, y):
    """General unbiased MMD^2 with k(u, v) = (u.v/d + 1)^3, sample sizes m and n may differ."""
    d = x.shape[1]
    m, n = x.shape[0], y.shape[0]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.sum() / (m * n))


def kid_case(name, rng, x, y, subsets, size):
    x = quantise(x)
    y = quantise(y)
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    idx1, idx2, values = [], [], []
    for _ in range(subsets):
        i1 = rng.choice(x.shape[0], size, replace=False)
        i2 = rng.choice(y.shape[0], size, replace=False)
        idx1.append(i1.tolist())
        idx2.append(i2.tolist())
        values.append(clean_fid_subset_term(xd[i1], yd[i2]))
    return {
        "name": name, "n1": int(x.shape[0]), "n2": int(y.shape[0]), "d": int(x.shape[1]),
        "features1": [float(v) for v in x.ravel()], "features2": [float(v) for v in y.ravel()],
        "mmd2_whole_sets": mmd2_unbiased(xd, yd),
        "mmd2_first_with_itself": mmd2_unbiased(xd, xd),
        "subset_rows1": idx1, "subset_rows2": idx2, "subset_values": values,
        "kid_mean": float(np.mean(values)), "kid_std": float(np.std(values)),
    }


def is_case(name, rng, n, k, splits=10, temperature=1.0):
    logits = rng.normal(size=(n, k)) * 3.0 / temperature
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    probs = p.astype(np.float64)   # pytorch-ddpm: is_probs = np.empty((N, 1008)) (float64)
    scores = []
    for i in range(splits):
        part = probs[(i * probs.shape[0] // splits):((i + 1) * probs.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        kl = np.mean(np.sum(kl, 1))
        scores.append(np.exp(kl))
    return {
        "name": name, "n": n, "k": k, "splits": splits,
        # float32 bit patterns (exact; the Swift test rebuilds Float(bitPattern:)).
        "probability_bits": [int(v) for v in p.ravel().view(np.uint32)],
        "split_scores": [float(s) for s in scores],
        "mean": float(np.mean(scores)), "std": float(np.std(scores)),
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "Tests/MetricsTests/Fixtures/metrics_reference.json"
    rng = np.random.default_rng(20241011)

    def gaussian(n, d, shift, scale):
        a = rng.normal(size=(d, d)) * scale / np.sqrt(d)
        return rng.normal(size=(n, d)) @ a.T + shift

    fid = [
        fid_case("full_rank_d8_n100", gaussian(100, 8, 0.0, 1.0), gaussian(100, 8, 0.3, 1.5), True),
        fid_case("near_singular_d32_n20_vs_n60", gaussian(20, 32, 0.0, 1.0), gaussian(60, 32, 0.1, 1.0)),
        fid_case("both_singular_d40_n25_vs_n30", gaussian(25, 40, 0.0, 1.0), gaussian(30, 40, 0.2, 2.0)),
        # pool3-like: non-negative, sparse-ish (ReLU then average), N < D on both sides.
        fid_case("relu_d48_n30_vs_n36",
                 np.maximum(gaussian(30, 48, 0.2, 1.0), 0), np.maximum(gaussian(36, 48, 0.3, 1.0), 0)),
    ]
    same = gaussian(12, 24, 0.0, 1.0)
    fid.append(fid_case("identical_singular_d24_n12", same, same, True))

    kid = [
        kid_case("shifted_d6_n40_vs_n50", rng, rng.normal(size=(40, 6)), rng.normal(size=(50, 6)) + 0.5, 5, 20),
        kid_case("same_distribution_d6_n40_vs_n40", rng, rng.normal(size=(40, 6)), rng.normal(size=(40, 6)), 4, 25),
    ]
    inception = [is_case("random_n53_k7", rng, 53, 7), is_case("random_n40_k5", rng, 40, 5)]

    doc = {
        "generator": "scripts/fid_reference.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "mpmath": mpmath.__version__},
        "fid": fid, "kid": kid, "inception_score": inception,
    }
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    for c in fid:
        rel = abs(c["fid_reference_pipeline"] - c["fid_exact"]) / max(abs(c["fid_exact"]), 1e-300)
        print("%-34s rank %2d/%2d  ref %.12g  exact %.12g  eigvals %.12g  rel(ref-exact) %.2e  %s" % (
            c["name"], c["rank1"], c["rank2"], c["fid_reference_pipeline"], c["fid_exact"],
            c["fid_numpy_eigvals"], rel, c["reference_pipeline_info"]))


if __name__ == "__main__":
    main()
