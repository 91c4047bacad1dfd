"""How far the best conceivable synthesis gets under the ``useful`` rule, per detector.

A program is ``useful`` when its enhancement beats, unit by unit, the better of
the detector and random outliers (:func:`collab.certification.unit_margin`),
judged on the 90% lower bound over one verification's units
(:data:`collab.certification.USEFUL_RULE`). This script asks whether *any*
rows could pass for a detector, by running synthesis candidates as programs,
one of them the suite's own anomalies (no program can mimic them better):

- ``planted``: the planted-anomaly generator itself (:func:`collab.planted.plant_kinds`,
  the four kinds the suite plants, from the program's own training rows);
- ``shuffled``: every feature copied from a different training row (dependencies broken);
- ``mixture``: a third each of training rows plus noise at the data's covariance,
  shuffled rows and the 10% widened bounding box.

They run in-process on the certification suite's seed-drawn datasets through
the service's own enhancement and baselines (no user data, no labels of any
real dataset). Per candidate: the mean unit margin (the rule), the mean gains
over the detector and over random outliers taken separately, and in how many
verifications (12 units each) the lower bound is above 0, under the rule and
for each comparator taken separately (a looser rule). Also per detector:
how far the per-unit better of base and random sits above each of them, the bar
a program must clear before it gains anything.

    python benchmarks/useful_ceiling.py --detectors OCSVM,IForest,PCA,ECOD,DRL --verifications 8 \
        > results/useful_ceiling/ceiling.txt
"""
import argparse

import numpy as np
from das.collab import certification, enhance
from das.collab.planted import plant_kinds
from threadpoolctl import threadpool_limits


def planted(X, n, rng):
    rows, _ = plant_kinds(X, n // 4 + 1, random_state=int(rng.integers(1 << 30)))
    return rows[rng.permutation(len(rows))[:n]]


def shuffled(X, n, rng):
    return X[rng.integers(0, len(X), size=(n, X.shape[1])), np.arange(X.shape[1])]


def _jittered(X, n, rng):
    cov = np.atleast_2d(np.cov(X, rowvar=False))
    ridge = (1e-6 + 1e-3 * np.trace(cov) / len(cov)) * np.eye(len(cov))
    noise = rng.standard_normal((n, X.shape[1])) @ np.linalg.cholesky(cov + ridge).T
    return X[rng.integers(0, len(X), n)] + noise


def _box(X, n, rng):
    low, width = X.min(axis=0), np.ptp(X, axis=0)
    return low - 0.1 * width + rng.uniform(size=(n, X.shape[1])) * 1.2 * width


def mixture(X, n, rng):
    counts = rng.multinomial(n, [1 / 3] * 3)
    return np.vstack([make(X, k, rng) for make, k in zip((_jittered, shuffled, _box), counts)])


CANDIDATES = {"planted": planted, "shuffled": shuffled, "mixture": mixture}


def _mean(per_kind):
    return float(np.mean(list(per_kind.values())))


def units(detector, verification_seed, candidates):
    """Per unit of one verification: base, random and each candidate's mean planted AUC-PR."""
    out = []
    for seed in certification.useful_seeds(verification_seed):
        for b in certification._suite_baselines(detector, seed).values():
            split, det = b["split"], b["det"]
            row = {"base": _mean(b["base"]), "random": _mean(b["random"])}
            for name in candidates:
                X_syn = CANDIDATES[name](split.X_fit, certification._n_syn(split), np.random.default_rng(seed))
                row[name] = _mean(certification._enhanced_auc_pr(split, det, b["base_fit"], b["base_val"],
                                                                 X_syn, seed))
            out.append(row)
    return out


def _passes(units_, name, comparator):
    """The lower bound of the candidate's mean gain over ``comparator`` on these units is above 0."""
    return certification.lower_bound([r[name] - comparator(r) for r in units_]) > 0


def report(detector, verifications, candidates):
    per_verification = [units(detector, seed, candidates) for seed in verifications]
    rows = [r for v in per_verification for r in v]
    base, rand = (np.array([r[k] for r in rows]) for k in ("base", "random"))
    better = np.maximum(base, rand)
    print(f"## {detector}: {len(verifications)} verifications x {len(per_verification[0])} units")
    print(f"bar: per-unit better of base and random {better.mean():.4f}, above base by "
          f"{(better - base).mean():+.4f}, above random by {(better - rand).mean():+.4f}; "
          f"random beats base in {np.mean(rand > base):.0%} of units")
    for name in candidates:
        prog = np.array([r[name] for r in rows])
        passes = [_passes(v, name, lambda r: max(r["base"], r["random"])) for v in per_verification]
        both = [_passes(v, name, lambda r: r["base"]) and _passes(v, name, lambda r: r["random"])
                for v in per_verification]
        print(f"{name:9s} margin {np.mean(prog - better):+.4f} (lower bound over all units "
              f"{certification.lower_bound(prog - better):+.4f}; useful in {sum(passes)}/{len(passes)} "
              f"verifications)  gain over base {np.mean(prog - base):+.4f}, over random {np.mean(prog - rand):+.4f} "
              f"(each at the bound in {sum(both)}/{len(both)})")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", default="OCSVM,IForest", help="comma-separated detector names")
    parser.add_argument("--verifications", type=int, default=4, help="verification seeds (12 units each)")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated candidates")
    parser.add_argument("--syn-ratio", type=float, default=enhance.SYN_RATIO,
                        help="synthetic rows per training row in the enhancement (an experiment; the runtime's is the default)")
    args = parser.parse_args()
    enhance.SYN_RATIO = args.syn_ratio  # read at call time by the service's baselines and by n_synthetic's callers
    candidates = args.candidates.split(",")
    verifications = [1000 + 7919 * i for i in range(args.verifications)]  # fixed: the table replays
    print(f"# useful ceiling, synthetic rows per training row {args.syn_ratio}, rule: {certification.USEFUL_RULE}\n")
    with threadpool_limits(1):
        for detector in args.detectors.split(","):
            report(detector, verifications, candidates)


if __name__ == "__main__":
    main()
