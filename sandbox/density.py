"""Detector scores of synthesized, normal and random-outlier rows on a suite dataset.

What a reviewer wants to see next to a verdict: on the suite's base dataset
(generated from the seed, never user data) the fitted detector scores the
training rows, uniform random outliers (the paper's baseline) and the rows the
program synthesizes in the sandbox. Hard anomalies sit between the two.
"""
from dataclasses import dataclass

import numpy as np

from das.sandbox import datasets as ds
from das.sandbox.properties import SUITE_DEGREE, SUITE_DETECTOR_PARAMS, check_signature, suite_limits
from das.sandbox.runner import run_program

COLORS = {"normal": "#1f77b4", "random outliers": "#7f7f7f", "synthesized": "#d62728"}


@dataclass(frozen=True)
class ScoreDensity:
    """Scores of each row group on one suite dataset.

    ``scores`` maps "normal", "random outliers" and, when the program ran,
    "synthesized" to 1-D arrays; ``status`` is the sandbox run's status.
    """

    dataset: str
    detector: str
    seed: int
    scores: dict
    status: str


def score_density(source, detector, seed=0):
    """Fit ``detector`` on the suite's base dataset for ``seed`` and score the three row groups."""
    from das.detectors import make_detector

    data = ds.base_dataset(seed)
    model = make_detector(detector, random_state=seed, **SUITE_DETECTOR_PARAMS.get(detector, {})).fit(data.X)
    n = len(data.X) // 2
    signature = check_signature(source)
    degree = SUITE_DEGREE if signature.passed and len(signature.value) == 4 else None
    res = run_program(source, data.X, n, model.predict_score, seed=seed, degree=degree, limits=suite_limits())
    scores = {"normal": model.predict_score(data.X),
              "random outliers": model.predict_score(ds.random_outliers(data.X, n, seed))}
    if res.ok:
        scores["synthesized"] = model.predict_score(np.asarray(res.output, dtype=np.float64))
    return ScoreDensity(data.name, model.name, int(seed), scores, res.status)


def density_svg(density):
    """The densities as one SVG figure (text as paths: no fonts, no scripts)."""
    import io

    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2))
    ax = fig.add_subplot()
    every = np.concatenate(list(density.scores.values()))
    bins = np.linspace(every.min(), every.max() + 1e-12, 41)
    for label, values in density.scores.items():
        ax.hist(values, bins=bins, density=True, histtype="step", linewidth=2, color=COLORS[label],
                label=f"{label} (n={len(values)})")
    ax.set_xlabel(f"{density.detector} score (higher = more anomalous)")
    ax.set_ylabel("density")
    ax.set_title(f"suite dataset {density.dataset}, seed {density.seed}")
    ax.legend(frameon=False)
    fig.tight_layout()
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "das"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
