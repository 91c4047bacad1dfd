"""Label-free "do no harm" rules for choosing an enhancement, measured side by side (issue 21).

Two phases, so that rules can be tried without refitting anything:

``run``   For each dataset x detector x seed (the papers' split, training rows
          subsampled to ``--max-train``), fit every candidate enhancement
          (random outliers and the detector's certified programs) once on all
          training rows and score the test rows (kept to measure the real gain),
          and ``--repeats`` times on a planted split of the training rows
          (:func:`collab.planted.planted_split`, a different seed each time:
          repeated cross-fitting), scoring the held-out normals, the planted
          anomalies and the test anomalies (those only for the "few labels" study).
          Raw scores and the fusion's scalers are kept (pickle per cell), so any
          lambda or fusion can be evaluated afterwards.
``rules`` Apply every rule to the cached cells and print, per detector, the mean,
          median, worst and wins/ties/losses of (rule - base) test AUC-PR, the
          random-outlier ablation beside it, the correlation of the label-free
          expected gain with the real gain, and the "few labels" choice for k known
          anomalies.

Only planted anomalies (labels by construction) enter a rule; test labels are
read to report. Decide on the decision datasets (``--split decision``: every
third by name, the 12 of the README), measure on the others (``--split held-out``).

    python benchmarks/no_harm_rules.py run --detectors IForest,PCA,ECOD --seeds 0,1
    python benchmarks/no_harm_rules.py rules --split decision

Dependence on the runtime is kept to :func:`_fit_candidate` and :func:`_candidates`.
"""
import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

DATA_DIR = Path("/work/shared/datasets/odds")
CACHE = Path("/tmp/no_harm_cells")
#: The 12 datasets the defaults were decided on (README, "Results"); the other 22 are held out.
DECISION = ("Cardiotocography", "SpamBase", "Wilt", "arrhythmia", "cardio", "glass", "lympho", "optdigits",
            "satimage-2", "vertebral", "wine", "yeast")
LAMBDAS = (0.25, 0.5, 1.0, 2.0)
HOLDOUT = 0.3


# ---------------------------------------------------------------- phase 1: fit and cache
def _candidates(detector, store):
    """Random outliers and the detector's certified programs, as ``(name, synthesis source)``."""
    from das.collab import selection

    return [(c.name, c) for c in selection.candidates(detector, store) if c.name != selection.FALLBACK.name]


def _fit_candidate(name, source, det, X_fit, seed):
    """Synthesize with one candidate against ``det`` and fit the default classifier and sum fusion."""
    from das.collab import enhance

    n_syn = enhance.n_synthetic(len(X_fit), enhance.SYN_RATIO)
    X_syn = source.rows(X_fit, n_syn, lambda Z: enhance.base_scores(det, Z), seed)
    fitted = enhance.fit_enhancement(det, X_fit, X_syn, seed=seed)
    fusion = fitted.fusions["sum"]
    return fitted.classifier, (fusion.base.lo, fusion.base.scale, fusion.clf.lo, fusion.clf.scale)


def _subsample(X, cap, rng):
    return X if len(X) <= cap else X[np.sort(rng.choice(len(X), cap, replace=False))]


def cell_data(path, seed, max_train, max_test_normal):
    """The papers' split of ``path`` (standardized), training rows and test normals subsampled by ``seed``.

    Returns ``(name, X_train, X_test, y_test)``; every test anomaly is kept.
    """
    from das.collab.data import load_dataset, split_dataset

    split = split_dataset(load_dataset(path), scale="standard")
    rng = np.random.default_rng(seed)
    X_train = _subsample(split.X_train, max_train, rng)
    normal, anomal = split.X_test[split.y_test == 0], split.X_test[split.y_test == 1]
    X_test = np.vstack([_subsample(normal, max_test_normal, rng), anomal])
    y_test = np.r_[np.zeros(len(X_test) - len(anomal)), np.ones(len(anomal))].astype(int)
    return split.name, X_train, X_test, y_test


def run_cell(path, detector, seed, cands, repeats, max_train, max_test_normal):
    from das.collab import enhance
    from das.collab.planted import planted_split

    name, X_train, X_test, y_test = cell_data(path, seed, max_train, max_test_normal)
    det = enhance.fit_detector(detector, X_train, seed)
    cell = {"dataset": name, "detector": detector, "seed": seed, "y_test": y_test,
            "base_test": enhance.base_scores(det, X_test), "full": {}, "val": []}
    for name, source in cands:
        try:
            clf, scal = _fit_candidate(name, source, det, X_train, seed)
        except enhance.SynthesisError as exc:
            print(f"  {name} failed: {exc}", file=sys.stderr)
            continue
        cell["full"][name] = {"clf_test": enhance.classifier_scores(clf, X_test), "scal": scal}
    X_anom = X_test[y_test == 1]
    for r in range(repeats):
        ps = planted_split(X_train, random_state=1000 * seed + r, holdout=HOLDOUT)
        det_r = enhance.fit_detector(detector, ps.X_fit, seed)
        rep = {"y_val": ps.y_val, "kinds": ps.kind_per_row, "base_val": enhance.base_scores(det_r, ps.X_val),
               "base_anom": enhance.base_scores(det_r, X_anom), "cands": {}}
        for name, source in cands:
            if name not in cell["full"]:
                continue
            try:
                clf, scal = _fit_candidate(name, source, det_r, ps.X_fit, seed + r)
            except enhance.SynthesisError:
                continue
            rep["cands"][name] = {"clf_val": enhance.classifier_scores(clf, ps.X_val),
                                  "clf_anom": enhance.classifier_scores(clf, X_anom), "scal": scal}
        cell["val"].append(rep)
    return cell


def cmd_run(args):
    from das.collab.pipeline import detector_name

    CACHE.mkdir(parents=True, exist_ok=True)
    names = DECISION if args.split == "decision" else sorted(
        p.stem for p in DATA_DIR.iterdir() if p.stem not in DECISION)
    for detector in args.detectors.split(","):
        detector = detector_name(detector)
        cands = _candidates(detector, args.store)
        print(f"{detector}: candidates {[c[0] for c in cands]}", file=sys.stderr)
        for name in names:
            path = next(DATA_DIR.glob(f"{name}.*"))
            for seed in (int(s) for s in args.seeds.split(",")):
                out = CACHE / f"{name}__{detector}__{seed}.pkl"
                if out.exists():
                    continue
                cell = run_cell(path, detector, seed, cands, args.repeats, args.max_train, args.max_test_normal)
                out.write_bytes(pickle.dumps(cell))
                print(f"  {name} {detector} {seed}: {len(cell['full'])} candidates", file=sys.stderr)


# ---------------------------------------------------------------- phase 2: rules
def _fuse(base, clf, scal, lam):
    b_lo, b_sc, c_lo, c_sc = scal
    return (base - b_lo) / b_sc + lam * (clf - c_lo) / c_sc


def _auc_pr(y, s):
    from das.collab.metrics import auc_pr

    return float(auc_pr(y, s))


def _per_kind(scores, y, kinds):
    from das.collab.planted import per_kind_auc_pr

    return per_kind_auc_pr(scores, y, kinds)


def options(cell):
    """Every (candidate, lambda) option of a cell, plus the ensemble of all candidates."""
    opts = [(name, lam) for name in cell["full"] for lam in LAMBDAS]
    if len(cell["full"]) > 1:
        opts += [("ensemble", lam) for lam in LAMBDAS]
    return opts


def _scores(part, base, which, name, lam, key):
    """Fused scores of option (name, lam) on one part ('full' test or a validation repeat)."""
    if name == "base":
        return base
    if name == "ensemble":
        terms = [(c[key] - c["scal"][2]) / c["scal"][3] for c in part.values()]
        b_lo, b_sc = next(iter(part.values()))["scal"][:2]
        return (base - b_lo) / b_sc + lam * np.mean(terms, axis=0)
    c = part[name]
    return _fuse(base, c[key], c["scal"], lam)


_MEMO = {}


def validation_gains(cell, opt):
    """Planted-validation gain over base, shape (repeats, kinds), and the kinds' names (memoized)."""
    key = (id(cell), opt)
    if key not in _MEMO:
        _MEMO[key] = _validation_gains(cell, opt)
    return _MEMO[key]


def _validation_gains(cell, opt):
    rows, kinds_seen = [], None
    for rep in cell["val"]:
        if opt[0] != "ensemble" and opt[0] not in rep["cands"]:
            continue
        s = _scores(rep["cands"], rep["base_val"], "val", opt[0], opt[1], "clf_val")
        g = _per_kind(s, rep["y_val"], rep["kinds"])
        b = _per_kind(rep["base_val"], rep["y_val"], rep["kinds"])
        kinds_seen = list(g)
        rows.append([g[k] - b[k] for k in kinds_seen])
    return np.array(rows), kinds_seen


_TEST = {}


def test_auc(cell, opt, drop=None):
    key = (id(cell), opt, None if drop is None else tuple(drop))
    if key not in _TEST:
        _TEST[key] = _test_auc(cell, opt, drop)
    return _TEST[key]


def _test_auc(cell, opt, drop=None):
    y, base = cell["y_test"], cell["base_test"]
    s = _scores(cell["full"], base, "full", opt[0], opt[1], "clf_test") if opt[0] != "base" else base
    if drop is not None:
        keep = np.ones(len(y), bool)
        keep[drop] = False
        y, s = y[keep], s[keep]
    return _auc_pr(y, s)


def resemblance(cell, name):
    """The planted kind a candidate's classifier scores highest (the construction it resembles)."""
    tot = {}
    for rep in cell["val"]:
        c = rep["cands"].get(name)
        if c is None:
            continue
        for k in set(rep["kinds"]) - {"normal"}:
            tot.setdefault(k, []).append(c["clf_val"][rep["kinds"] == k].mean())
    return max(tot, key=lambda k: np.mean(tot[k])) if tot else None


def estimate(G, boot=200, seed=0):
    """Expected gain (mean over repeats x kinds) and its bootstrap standard error over repeats and kinds."""
    if G.size == 0:
        return 0.0, np.inf
    rng = np.random.default_rng(seed)
    R, K = G.shape
    ri, ki = rng.integers(0, R, (boot, R)), rng.integers(0, K, (boot, K))
    means = G[ri[:, :, None], ki[:, None, :]].mean(axis=(1, 2))
    return float(G.mean()), float(np.std(means))


def choose(cell, rule):
    """The option a rule picks, (name, lam), or ('base', 0)."""
    kind, p = rule
    stats = {}
    for opt in options(cell):
        G, kinds = validation_gains(cell, opt)
        stats[opt] = (G, kinds)
    if kind == "auto":  # today's rule: best mean planted AUC-PR at lambda=2 among base, random, programs
        best, val = ("base", 0), 0.0
        for opt, (G, _) in stats.items():
            if opt[1] == 2.0 and opt[0] != "ensemble" and G.size and G.mean() > val:
                best, val = opt, G.mean()
        return best
    if kind == "fixed":
        return p if p in stats else ("base", 0)
    best, val = ("base", 0), 0.0
    for opt, (G, kinds) in stats.items():
        if G.size == 0 or (p.get("only") and opt[0] not in p["only"]) or (p.get("lams") and opt[1] not in p["lams"]):
            continue
        if kind == "lcb":
            m, se = estimate(G)
            score = m - p["z"] * se
            if score <= p.get("delta", 0.0):
                continue
        elif kind == "worstkind":
            per_kind = G.mean(axis=0)
            if p.get("strict"):  # every split of every kind gains
                per_kind = G.min(axis=0)
            elif p.get("z"):  # every kind's split-mean gain clears z standard errors over the splits
                per_kind = per_kind - p["z"] * G.std(axis=0, ddof=1) / np.sqrt(len(G))
            if per_kind.min() <= 0 or G.mean() <= p.get("delta", 0.0):
                continue
            score = per_kind.min()
            if p.get("beat_default") and opt != p["default"] and p["default"] in stats:
                # the default is the baseline: beat it on every kind by more than z standard errors
                D = G - stats[p["default"]][0]
                if D.shape != G.shape or (D.mean(axis=0) - p["z"] * D.std(axis=0, ddof=1) / np.sqrt(len(D))).min() <= 0:
                    continue
        elif kind == "heldout_kind":  # drop the kind the candidate resembles (ensemble: the one it gains most on)
            name = opt[0]
            res = resemblance(cell, name) if name != "ensemble" else None
            drop = kinds.index(res) if res in kinds else int(np.argmax(G.mean(axis=0)))
            rest = np.delete(G, drop, axis=1)
            m, se = estimate(rest)
            score = m - p["z"] * se
            if score <= p.get("delta", 0.0) or rest.min(axis=0).mean() <= 0:
                continue
        elif kind == "agree":  # every repeat and the leave-kind-out mean agree on a gain
            name = opt[0]
            res = resemblance(cell, name) if name != "ensemble" else None
            drop = kinds.index(res) if res in kinds else int(np.argmax(G.mean(axis=0)))
            rest = np.delete(G, drop, axis=1)
            if (G.mean(axis=1) <= 0).any() or (rest.mean(axis=1) <= 0).any():
                continue
            m, se = estimate(G)
            score = m - p["z"] * se
            if score <= p.get("delta", 0.0):
                continue
        else:
            raise ValueError(kind)
        if score > val:
            best, val = opt, score
    if best == ("base", 0) and p.get("default") in stats:  # nothing eligible: a fixed default option instead
        return p["default"]
    return best


def summary(gains):
    g = np.asarray(gains)
    w, t, l = (g > 1e-4).sum(), (abs(g) <= 1e-4).sum(), (g < -1e-4).sum()
    return f"mean {g.mean():+.4f}  median {np.median(g):+.4f}  worst {g.min():+.4f}  w/t/l {w}/{t}/{l}  (<-.05: {(g < -.05).sum()})"


RULES = {
    "auto (today)": ("auto", None),
    "random lam=2 (ablation)": ("fixed", ("random", 2.0)),
    "random lam=1": ("fixed", ("random", 1.0)),
    "random lam=0.5": ("fixed", ("random", 0.5)),
    "random lam=0.25": ("fixed", ("random", 0.25)),
    "ensemble lam=0.5": ("fixed", ("ensemble", 0.5)),
    "ensemble lam=1": ("fixed", ("ensemble", 1.0)),
    "lcb z=1": ("lcb", {"z": 1.0}),
    "lcb z=2": ("lcb", {"z": 2.0}),
    "lcb z=2 d=.01": ("lcb", {"z": 2.0, "delta": 0.01}),
    "lcb z=2 lam<=.5": ("lcb", {"z": 2.0, "lams": (0.25, 0.5)}),
    "lcb z=2 lam<=1": ("lcb", {"z": 2.0, "lams": (0.25, 0.5, 1.0)}),
    "worstkind": ("worstkind", {}),
    "worstkind lam<=1": ("worstkind", {"lams": (0.25, 0.5, 1.0)}),
    "worstkind random only": ("worstkind", {"only": ("random",)}),
    "worstkind random+ensemble": ("worstkind", {"only": ("random", "ensemble")}),
    "worstkind strict": ("worstkind", {"strict": True}),
    "worstkind z=1": ("worstkind", {"z": 1.0}),
    "worstkind z=1, else random lam=.5": ("worstkind", {"z": 1.0, "default": ("random", 0.5)}),
    "worstkind z=1, else random lam=1": ("worstkind", {"z": 1.0, "default": ("random", 1.0)}),
    "worstkind z=1 beating random lam=1, else it": ("worstkind", {"z": 1.0, "default": ("random", 1.0),
                                                                  "beat_default": True}),
    "worstkind z=1, else random lam=2": ("worstkind", {"z": 1.0, "default": ("random", 2.0)}),
    "worstkind strict random only": ("worstkind", {"strict": True, "only": ("random",)}),
    "worstkind d=.01": ("worstkind", {"delta": 0.01}),
    "heldout_kind z=1": ("heldout_kind", {"z": 1.0}),
    "heldout_kind z=2": ("heldout_kind", {"z": 2.0}),
    "heldout_kind z=1 lam<=1": ("heldout_kind", {"z": 1.0, "lams": (0.25, 0.5, 1.0)}),
    "agree z=1": ("agree", {"z": 1.0}),
    "agree z=1 lam<=1": ("agree", {"z": 1.0, "lams": (0.25, 0.5, 1.0)}),
    "agree z=2 lam<=1": ("agree", {"z": 2.0, "lams": (0.25, 0.5, 1.0)}),
}


def labels_choice(cell, k, rng, z=0.0):
    """Choose by AUC-PR on k known anomalies (out-of-fold normals of each repeat + the k anomalies).

    An option must beat base by more than ``z`` standard errors of the split-wise paired difference.
    Returns the option and the indices (into the test anomalies) taken out of the test set."""
    n_anom = int(cell["y_test"].sum())
    if n_anom <= k:
        return None, None
    known = rng.choice(n_anom, k, replace=False)
    best, best_val = ("base", 0), None
    results = {}
    for opt in [("base", 0)] + options(cell):
        vals = []
        for rep in cell["val"]:
            normal = rep["kinds"] == "normal"
            if opt[0] == "base":
                s_n, s_a = rep["base_val"][normal], rep["base_anom"][known]
            elif opt[0] != "ensemble" and opt[0] not in rep["cands"]:
                continue
            else:
                s_v = _scores(rep["cands"], rep["base_val"], "val", opt[0], opt[1], "clf_val")
                s_an = _scores(rep["cands"], rep["base_anom"], "val", opt[0], opt[1], "clf_anom")
                s_n, s_a = s_v[normal], s_an[known]
            y = np.r_[np.zeros(len(s_n)), np.ones(k)]
            vals.append(_auc_pr(y, np.r_[s_n, s_a]))
        if vals:
            results[opt] = np.array(vals)
    base_v = results[("base", 0)]
    for opt, v in results.items():
        if opt[0] == "base" or len(v) != len(base_v):
            continue
        diff = v - base_v
        margin = diff.mean() - z * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else diff.mean()
        if margin > 0 and (best_val is None or v.mean() > best_val):
            best, best_val = opt, v.mean()
    anom_idx = np.flatnonzero(cell["y_test"] == 1)[known]
    return best, anom_idx


def cmd_rules(args):
    cells = [pickle.loads(p.read_bytes()) for p in sorted(CACHE.glob("*.pkl"))]
    want = set(DECISION)
    cells = [c for c in cells if (c["dataset"] in want) == (args.split == "decision")]
    dets = sorted({c["detector"] for c in cells})
    print(f"# {args.split} datasets: {len(set(c['dataset'] for c in cells))}, cells {len(cells)}; "
          "gain = rule - base test AUC-PR, averaged over seeds per dataset")
    for det in dets:
        dc = [c for c in cells if c["detector"] == det]
        print(f"\n## {det}")
        base = {id(c): test_auc(c, ("base", 0)) for c in dc}
        for rname, rule in RULES.items():
            per_ds, picks = {}, {}
            for c in dc:
                opt = choose(c, rule)
                picks[opt[0] if opt[0] in ("base", "random", "ensemble") else "program"] = \
                    picks.get(opt[0] if opt[0] in ("base", "random", "ensemble") else "program", 0) + 1
                per_ds.setdefault(c["dataset"], []).append(test_auc(c, opt) - base[id(c)])
            g = [np.mean(v) for v in per_ds.values()]
            print(f"{rname:<44} {summary(g)}  picks {picks}")
        # the expected-gain estimate of the recommended rule's choice vs the real gain
        est, real = [], []
        for c in dc:
            opt = choose(c, RULES[args.estimate_rule])
            if opt[0] == "base":
                continue
            G, _ = validation_gains(c, opt)
            est.append(estimate(G)[0])
            real.append(test_auc(c, opt) - base[id(c)])
        allopt_est, allopt_real = [], []
        for c in dc:
            for opt in options(c):
                G, _ = validation_gains(c, opt)
                if G.size:
                    allopt_est.append(estimate(G)[0])
                    allopt_real.append(test_auc(c, opt) - base[id(c)])
        r_all = np.corrcoef(allopt_est, allopt_real)[0, 1]
        print(f"estimate vs real gain, every option: Pearson r {r_all:+.3f} (n={len(allopt_est)})"
              + (f"; chosen by '{args.estimate_rule}': r {np.corrcoef(est, real)[0, 1]:+.3f} (n={len(est)})"
                 if len(est) > 2 else ""))
        for k, z in ((5, 0), (10, 0), (20, 0), (5, 1), (10, 1), (20, 1)):
            per_ds = {}
            for c in dc:
                rng = np.random.default_rng(c["seed"] * 7919 + k)
                opt, drop = labels_choice(c, k, rng, z)
                if opt is None:
                    continue
                per_ds.setdefault(c["dataset"], []).append(test_auc(c, opt, drop) - test_auc(c, ("base", 0), drop))
            g = [np.mean(v) for v in per_ds.values()]
            print(f"labels k={k:<3} z={z} ({len(g)} datasets)   {summary(g)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--detectors", default="IForest,PCA,ECOD")
    run.add_argument("--seeds", default="0,1")
    run.add_argument("--repeats", type=int, default=3)
    run.add_argument("--max-train", type=int, default=2000)
    run.add_argument("--max-test-normal", type=int, default=2000)
    run.add_argument("--split", choices=("decision", "held-out"), default="decision")
    run.add_argument("--store", default="/tmp/no_harm_store.sqlite")
    rules = sub.add_parser("rules")
    rules.add_argument("--split", choices=("decision", "held-out"), default="decision")
    rules.add_argument("--estimate-rule", default="lcb z=2")
    args = parser.parse_args()
    {"run": cmd_run, "rules": cmd_rules}[args.cmd](args)


if __name__ == "__main__":
    main()
