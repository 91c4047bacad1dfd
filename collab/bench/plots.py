"""Figures of the report (matplotlib, Agg backend, PNG).

- :func:`plot_delta_bars`: mean delta AUC-PR per detector and method.
- :func:`plot_score_densities`: score densities before vs after enhancement
  for normal test points, real anomalies and synthetic anomalies (LLM-DAS Fig. 5).
- :func:`plot_embedding`: 2-D PCA of normal vs synthetic vs real anomalies.
"""
import numpy as np

GROUP_COLORS = {"normal": "tab:blue", "real anomalies": "tab:red", "synthetic anomalies": "tab:orange"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in workers
    import matplotlib.pyplot as plt

    return plt


def plot_delta_bars(summary_header, summary_rows, path, metric_title="AUC-PR"):
    """Grouped bar chart of the mean delta of each method over base, per detector."""
    plt = _pyplot()
    i_det, i_met, i_delta = (summary_header.index(h) for h in ("detector", "method", "delta"))
    detectors = list(dict.fromkeys(r[i_det] for r in summary_rows))
    methods = list(dict.fromkeys(r[i_met] for r in summary_rows))
    values = {(r[i_det], r[i_met]): r[i_delta] for r in summary_rows}
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(detectors)), 3.8))
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(detectors))
    for j, method in enumerate(methods):
        ax.bar(x + j * width - 0.4 + width / 2, [values.get((d, method), np.nan) for d in detectors],
               width, label=method)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, detectors)
    ax.set_ylabel(f"mean delta {metric_title} vs base")
    ax.legend(fontsize=8, ncol=min(len(methods), 5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_scores(split, detector_name, program_source, seed=0):
    """Scores and rows for Fig. 5 and the embedding, with the default configuration.

    The ``sum`` path of :mod:`collab.pipeline` (as :func:`collab.evaluate.evaluate`),
    also scoring the synthetic rows after enhancement, which the figure needs.

    Returns
    -------
    dict
        ``before`` and ``after``: ``{group: scores}``; ``X_test``, ``y_test``, ``X_syn``,
        ``X_train``. Scores are min-max scaled on training scores as in Eq. 7.
    """
    from das.collab import enhance, pipeline
    from das.collab.fusion import fit_minmax
    from das.collab.synthesis import CertifiedProgram
    from das.program_store import source_sha256

    X_train, X_test = np.asarray(split.X_train, float), np.asarray(split.X_test, float)
    y_test = np.asarray(split.y_test)
    fitted = pipeline.fit_source(CertifiedProgram(program_source, source_sha256(program_source)), X_train,
                                 detector_name, seed=seed)
    det, X_syn = fitted.detector, fitted.X_syn
    scaler = fit_minmax(enhance.base_scores(det, X_train))
    groups = {"normal": X_test[y_test == 0], "real anomalies": X_test[y_test == 1],
              "synthetic anomalies": X_syn}
    before = {g: scaler.transform(enhance.base_scores(det, X)) for g, X in groups.items()}
    after = {g: fitted.scores(X)["sum"] for g, X in groups.items()}
    return {"before": before, "after": after, "X_train": X_train, "X_test": X_test,
            "y_test": y_test, "X_syn": X_syn}


def plot_score_densities(data, path, title):
    """Two panels (before / after enhancement) of per-group score histograms (density)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, stage in zip(axes, ("before", "after")):
        scores = data[stage]
        finite = np.concatenate([s[np.isfinite(s)] for s in scores.values() if len(s)])
        lo, hi = (np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0))
        bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 40)
        for group, s in scores.items():
            if len(s):
                ax.hist(np.clip(s, bins[0], bins[-1]), bins=bins, density=True, alpha=0.45,
                        color=GROUP_COLORS[group], label=f"{group} (n={len(s)})")
        ax.set_title(f"{stage} enhancement")
        ax.set_xlabel("score (min-max scaled on train)")
    axes[0].set_ylabel("density")
    axes[1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_embedding(data, path, title, max_points=1500, seed=0):
    """2-D PCA (fitted on training normals) of normal, real and synthetic anomalies."""
    from sklearn.decomposition import PCA

    plt = _pyplot()
    rng = np.random.default_rng(seed)
    X_train = data["X_train"]
    pca = PCA(n_components=min(2, X_train.shape[1]), random_state=seed).fit(X_train)
    groups = {"normal": data["X_test"][data["y_test"] == 0],
              "real anomalies": data["X_test"][data["y_test"] == 1],
              "synthetic anomalies": data["X_syn"]}
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    for group, X in groups.items():
        if len(X) > max_points:  # keep the PNG light; subsample uniformly
            X = X[rng.choice(len(X), max_points, replace=False)]
        Z = pca.transform(X) if len(X) else np.zeros((0, 2))
        if Z.shape[1] == 1:
            Z = np.column_stack([Z[:, 0], np.zeros(len(Z))])
        ax.scatter(Z[:, 0], Z[:, 1], s=6, alpha=0.5, color=GROUP_COLORS[group], label=group)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
