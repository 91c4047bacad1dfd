"""CoLLaTe-style fusion for tabular detectors (collate.txt §3.3-3.5, A.9).

Roles: the base detector is the *task-specific model* (score ``s_hat``) and the
enhancement classifier is the *knowledge-bearing model* (score ``S`` in [0, 1]).

1. Scaling (Eq. 4): ``s = (s_hat - s_min) / sqrt(d * (s_max - s_min))`` with
   min/max of the training scores. We subtract ``s_min`` (Eq. 4 does not) so
   that ``s >= 0`` on training data whatever the detector's sign convention.
2. Alignment (Eq. 5-7): a half-Gaussian ``f`` is fitted to the classifier's
   scores of D_train (std of the set merged with its mirror image), and a
   monotone map ``M`` is learned so that ``M(s)`` follows ``f``:
   ``L_a = -mean log f(M(s)) + l1 (mean M - mu)^2 + l2 (var M - sigma^2)^2``.
   ``M`` is piecewise linear on quantile knots with softplus slopes (hence
   increasing); it is fitted in units of ``sigma`` (``M = sigma * z``), which
   makes ``l1, l2`` scale-free.
3. Conditional network (Eq. 8, 23-24): ``logit = W2 leaky_relu(W1 [M(s), S, R])``,
   ``S_hat = sigmoid(logit)``. ``R`` is the representation of ``x``: the first
   ``n_components`` whitened principal components of the standardized features
   (PCA fitted on D_train).
4. Collaborative loss (Eq. 10) over all pairs of the training rows
   ``D_train ∪ D_syn`` (never test labels), computed in O(n) from the identity
   ``sum_ij w_i (t_i - t_j)(p_i - p_j) = n Σ w t p - Σ w t Σ p - Σ w p Σ t + Σ w Σ t p``.
   Per-sample weights (tabular analogue of D_intra / D_inter, Eq. 9):
   ``D_intra`` = mean distance in R-space to the ``k`` nearest training rows
   (the row's "patch"), ``D_inter`` = mean distance to a fixed random sample of
   training rows (the other patches); ``l1 = D_intra / (D_intra + D_inter)``
   weights the detector, ``l2 = 1 - l1`` the classifier.

5. Guard (ours, label-free): the network follows the classifier wherever the
   distance ratio gives it the larger weight, and an enhancement classifier
   can be uninformative about real anomalies. :meth:`CollateFusion.guard`
   therefore blends the network's logit with the detector's score,
   ``(1 - w) z(s_hat) + w z(logit)`` (robust z-scores fitted on D_train), with
   ``w`` in :data:`GUARD_WEIGHTS` chosen by the mean per-kind AUC-PR on
   anomalies planted from the training rows (:func:`collab.planted.plant_kinds`);
   ties go to the smaller ``w``. With an uninformative classifier the planted
   rows favour the detector, so the fusion falls back towards it.

``L_a`` and ``L_b`` share no parameters (``M(s)`` enters the network as a fixed
input and target), so they are minimized one after the other. The fused score
returned is the network's logit: monotone in ``S_hat``, without sigmoid
saturation ties. Everything is full-batch, float64, seeded and single-threaded.
"""
import math

import numpy as np

from das.detectors._torch_state import network_state, rebuilt

_LOG_NORM = math.log(2.0 / math.sqrt(2.0 * math.pi))  # log of the unit half-Gaussian constant
#: Weights of the network's logit tried by the guard (0: the detector alone, 1: the network alone).
GUARD_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


class RobustZ:
    """``(x - median) / IQR`` fitted on training scores (IQR 1.0 when it is zero)."""

    def __init__(self, scores):
        scores = np.asarray(scores, dtype=np.float64)
        q1, self.median, q3 = np.quantile(scores, [0.25, 0.5, 0.75])
        self.iqr = q3 - q1 if q3 - q1 > 1e-12 else 1.0

    def __call__(self, scores):
        return (np.asarray(scores, dtype=np.float64) - self.median) / self.iqr


def fit_half_gaussian(scores):
    """Sigma of the half-Gaussian fitted to ``scores`` (Eq. 5): std of ``{S} ∪ {-S}``."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    return float(max(np.sqrt(np.mean(scores**2)), 1e-3))


def half_gaussian_moments(sigma):
    """Mean and variance of a half-Gaussian with scale ``sigma``."""
    return sigma * math.sqrt(2.0 / math.pi), sigma**2 * (1.0 - 2.0 / math.pi)


def histogram_kl(p_samples, q_samples, bins=30):
    """KL(P || Q) between histograms of two samples on their common range (smoothed)."""
    p_samples, q_samples = np.ravel(p_samples), np.ravel(q_samples)
    lo = min(p_samples.min(), q_samples.min())
    hi = max(p_samples.max(), q_samples.max())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    p = np.histogram(p_samples, edges)[0] + 1e-3
    q = np.histogram(q_samples, edges)[0] + 1e-3
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def alignment_loss(z, lam1=10.0, lam2=10.0):
    """Eq. 7 for mapped scores ``z = M(s) / sigma`` against the unit half-Gaussian (torch)."""
    mu, var = half_gaussian_moments(1.0)
    nll = -(_LOG_NORM - 0.5 * z**2).mean()
    return nll + lam1 * (z.mean() - mu) ** 2 + lam2 * (z.var(unbiased=True) - var) ** 2


def collaborative_loss(s_hat, s, S, lam1, lam2):
    """Eq. 10: ``-1/n^2 Σ_ij [l1_i (s_i-s_j) + l2_i (S_i-S_j)] (Ŝ_i-Ŝ_j)`` in O(n) (torch)."""
    n = s_hat.shape[0]

    def pair_sum(w, t, p):
        return n * (w * t * p).sum() - (w * t).sum() * p.sum() - (w * p).sum() * t.sum() + w.sum() * (t * p).sum()

    return -(pair_sum(lam1, s, s_hat) + pair_sum(lam2, S, s_hat)) / n**2


def _torch_net(n_inputs, hidden):
    import torch.nn as nn

    class ConditionalNet(nn.Module):
        """Eq. 23-24: concat -> linear -> leaky ReLU -> linear (logit)."""

        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(n_inputs, hidden)
            self.out = nn.Linear(hidden, 1)
            self.act = nn.LeakyReLU(0.2)

        def forward(self, x):
            return self.out(self.act(self.hidden(x))).squeeze(-1)

    return ConditionalNet().double()


class MonotoneMap:
    """Increasing piecewise-linear map with softplus slopes on quantile knots."""

    def __init__(self, n_knots=16):
        self.n_knots = n_knots

    def init(self, s):
        """Place knots at quantiles of the (normalized) training scores; return torch params."""
        import torch

        self.lo_ = float(s.min())
        self.span_ = float(np.ptp(s)) or 1.0
        u = (s - self.lo_) / self.span_
        knots = np.quantile(u, np.linspace(0.0, 1.0, self.n_knots + 1))
        self.knots_ = torch.tensor(knots[:-1], dtype=torch.float64)
        widths = np.diff(knots)
        widths[-1] = np.inf  # last segment extrapolates linearly beyond the training range
        self.widths_ = torch.tensor(widths, dtype=torch.float64)
        # Start near the identity that spans [0, 2] sigma: slope 2, small offset.
        self.w_ = torch.full((self.n_knots,), math.log(math.expm1(2.0)), dtype=torch.float64, requires_grad=True)
        self.b_ = torch.tensor(math.log(math.expm1(0.01)), dtype=torch.float64, requires_grad=True)
        return [self.w_, self.b_]

    def __call__(self, s):
        import torch
        import torch.nn.functional as F

        u = (torch.as_tensor(s, dtype=torch.float64) - self.lo_) / self.span_
        seg = torch.minimum(torch.clamp(u[:, None] - self.knots_[None, :], min=0.0), self.widths_[None, :])
        return F.softplus(self.b_) + (seg * F.softplus(self.w_)[None, :]).sum(dim=1)


class CollateFusion:
    """Learned CoLLaTe-style fusion of detector and classifier scores.

    Parameters
    ----------
    d : float, default=1.0
        The ``d`` of Eq. 4.
    n_knots : int, default=16
        Segments of the monotone alignment map.
    lam_align : float, default=10.0
        ``l1 = l2`` of Eq. 7 (on the sigma-free scale).
    n_components : int, default=8
        Size of the representation ``R`` (principal components).
    hidden : int, default=32
        Hidden width of the conditional network.
    k_neighbors : int, default=10
        Neighbourhood ("patch") size for ``D_intra``.
    epochs, align_epochs : int, default=200, 300
        Full-batch Adam steps for the network and for the alignment map.
    lr, align_lr : float, default=0.01, 0.05
    weight_decay : float, default=1e-3
        Keeps the logits smooth (Eq. 10 alone drives ``S_hat`` to 0/1).
    max_samples : int, default=4096
        Cap on training rows (normals subsampled; at most half synthetic).
    random_state : int, default=0

    Attributes
    ----------
    sigma_ : float
        Half-Gaussian scale of the classifier's training scores.
    align_history_, loss_history_ : list of float
        ``L_a`` and ``L_b`` per epoch.
    weight_ : float
        Weight of the network in the guarded score (1.0 until :meth:`guard`).
    guard_table_ : dict
        Mean per-kind planted AUC-PR per tried weight (empty until :meth:`guard`).
    """

    def __init__(self, d=1.0, n_knots=16, lam_align=10.0, n_components=8, hidden=32, k_neighbors=10,
                 epochs=200, align_epochs=300, lr=0.01, align_lr=0.05, weight_decay=1e-3,
                 max_samples=4096, random_state=0):
        self.d = d
        self.n_knots = n_knots
        self.lam_align = lam_align
        self.n_components = n_components
        self.hidden = hidden
        self.k_neighbors = k_neighbors
        self.epochs = epochs
        self.align_epochs = align_epochs
        self.lr = lr
        self.align_lr = align_lr
        self.weight_decay = weight_decay
        self.max_samples = max_samples
        self.random_state = random_state

    # -- pieces ---------------------------------------------------------------

    def __getstate__(self):  # the fitted network pickles as its weights (its class is local)
        state = dict(self.__dict__)
        net = state.pop("net_", None)
        if net is not None:
            state["_network"] = network_state(_torch_net, (net.hidden.in_features, net.hidden.out_features), net)
        return state

    def __setstate__(self, state):
        state = dict(state)
        network = state.pop("_network", None)
        self.__dict__.update(state)
        if network is not None:
            self.net_ = rebuilt(network)
    def scale(self, base_scores):
        """Eq. 4 with the training min/max."""
        return (np.asarray(base_scores, dtype=np.float64) - self.s_min_) / self.s_den_

    def align(self, base_scores):
        """Aligned detector score ``M(s)`` (numpy)."""
        import torch

        with torch.no_grad():
            return self.sigma_ * self.map_(self.scale(base_scores)).numpy()

    def represent(self, X):
        """Representation ``R``: whitened leading principal components of standardized ``X``."""
        return ((np.asarray(X, dtype=np.float64) - self.x_mean_) / self.x_std_) @ self.components_

    def _fit_representation(self, X):
        self.x_mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.x_std_ = np.where(std > 1e-12, std, 1.0)
        Z = (X - self.x_mean_) / self.x_std_
        _, sv, vt = np.linalg.svd(Z, full_matrices=False)
        keep = min(self.n_components, int(np.sum(sv > 1e-8 * max(sv[0], 1e-300))))
        scale = sv[:keep] / math.sqrt(max(len(Z) - 1, 1))
        self.components_ = vt[:keep].T / scale  # whitened: unit variance on D_train

    def _weights(self, R_ref, R_rows, is_train):
        """Per-row (l1, l2) from the local/global distance ratio (equal weights when every
        row is the same point: no column varies, the representation is empty)."""
        from sklearn.neighbors import NearestNeighbors

        if R_ref.shape[1] == 0:
            return np.full(len(R_rows), 0.5), np.full(len(R_rows), 0.5)
        k = max(1, min(self.k_neighbors, len(R_ref) - 1))
        nn = NearestNeighbors(n_neighbors=k + 1).fit(R_ref)
        dist, _ = nn.kneighbors(R_rows)
        # Training rows find themselves at distance 0: drop that first neighbour.
        local = np.where(is_train, dist[:, 1:].mean(axis=1), dist[:, :k].mean(axis=1))
        rng = np.random.default_rng(self.random_state)
        anchors = R_ref[rng.choice(len(R_ref), size=min(256, len(R_ref)), replace=False)]
        glob = np.sqrt(((R_rows[:, None, :] - anchors[None, :, :]) ** 2).sum(-1)).mean(axis=1)
        total = local + glob
        lam1 = np.where(total > 0, local / np.where(total > 0, total, 1.0), 0.5)
        return lam1, 1.0 - lam1

    # -- fit / score ----------------------------------------------------------
    def fit(self, base_train, clf_train, X_train, base_syn, clf_syn, X_syn):
        """Fit alignment and conditional network on D_train ∪ D_syn.

        Parameters
        ----------
        base_train, clf_train : ndarray of shape (n_train,)
            Detector and (out-of-bag) classifier scores of the training normals.
        X_train : ndarray of shape (n_train, d)
        base_syn, clf_syn : ndarray of shape (n_syn,)
            The same scores of the synthetic anomalies.
        X_syn : ndarray of shape (n_syn, d)

        Returns
        -------
        self
        """
        import torch

        base_train = np.asarray(base_train, dtype=np.float64)
        rng = np.random.default_rng(self.random_state)
        self.s_min_ = float(base_train.min())
        self.s_den_ = math.sqrt(self.d * float(np.ptp(base_train))) or 1.0
        self.sigma_ = fit_half_gaussian(clf_train)

        n_syn_keep = min(len(X_syn), self.max_samples // 2)
        n_tr_keep = min(len(X_train), self.max_samples - n_syn_keep)
        tr = np.sort(rng.choice(len(X_train), size=n_tr_keep, replace=False))
        sy = np.sort(rng.choice(len(X_syn), size=n_syn_keep, replace=False))

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny full-batch problem: threads only add overhead
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.random_state)
                self._fit_alignment(self.scale(base_train[tr]))
                self._fit_representation(np.asarray(X_train, dtype=np.float64)[tr])
                self._fit_network(
                    m=np.r_[self.align(base_train[tr]), self.align(np.asarray(base_syn)[sy])],
                    S=np.r_[np.asarray(clf_train)[tr], np.asarray(clf_syn)[sy]],
                    R=self.represent(np.vstack([X_train[tr], X_syn[sy]])),
                    is_train=np.r_[np.ones(n_tr_keep, bool), np.zeros(n_syn_keep, bool)],
                )
        finally:
            torch.set_num_threads(threads)
        return self

    def _fit_alignment(self, s):
        import torch

        self.map_ = MonotoneMap(self.n_knots)
        params = self.map_.init(s)
        opt = torch.optim.Adam(params, lr=self.align_lr)
        s_t = torch.as_tensor(s, dtype=torch.float64)
        self.align_history_ = []
        for _ in range(self.align_epochs):
            opt.zero_grad()
            loss = alignment_loss(self.map_(s_t), self.lam_align, self.lam_align)
            loss.backward()
            opt.step()
            self.align_history_.append(loss.item())
        self.map_.w_.requires_grad_(False)
        self.map_.b_.requires_grad_(False)

    def _fit_network(self, m, S, R, is_train):
        import torch

        lam1, lam2 = self._weights(R[is_train], R, is_train)
        self.lam1_mean_ = float(lam1.mean())
        t = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in
             {"m": m, "S": S, "l1": lam1, "l2": lam2}.items()}
        inputs = torch.as_tensor(np.column_stack([m, S, R]), dtype=torch.float64)
        self.net_ = _torch_net(inputs.shape[1], self.hidden)
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        self.loss_history_ = []
        for _ in range(self.epochs):
            opt.zero_grad()
            s_hat = torch.sigmoid(self.net_(inputs))
            loss = collaborative_loss(s_hat, t["m"], t["S"], t["l1"], t["l2"])
            loss.backward()
            opt.step()
            self.loss_history_.append(loss.item())
        self.net_.eval()
        self.weight_, self.guard_table_ = 1.0, {}

    def logit(self, base_scores, clf_scores, X):
        """The conditional network's logit (higher = more anomalous), unguarded."""
        import torch

        inputs = np.column_stack([self.align(base_scores), np.asarray(clf_scores, dtype=np.float64),
                                  self.represent(X)])
        with torch.no_grad():
            return self.net_(torch.as_tensor(inputs, dtype=torch.float64)).numpy().astype(np.float64)

    def guard(self, base_train, clf_train, X_train, base_planted, clf_planted, X_planted, kind_per_row):
        """Choose the network's weight ``weight_`` on planted anomalies (no labels); returns self.

        ``base_*``/``clf_*``: detector and (for training rows, out-of-bag)
        classifier scores of the training rows and of rows planted from them;
        ``kind_per_row``: each planted row's kind.
        """
        from das.collab.planted import NORMAL, per_kind_auc_pr

        logit_train = self.logit(base_train, clf_train, X_train)
        self.base_z_, self.net_z_ = RobustZ(base_train), RobustZ(logit_train)
        base = self.base_z_(np.r_[base_train, base_planted])
        net = self.net_z_(np.r_[logit_train, self.logit(base_planted, clf_planted, X_planted)])
        kinds = np.r_[np.full(len(X_train), NORMAL), np.asarray(kind_per_row)]
        y = (kinds != NORMAL).astype(int)
        self.guard_table_ = {w: float(np.mean(list(per_kind_auc_pr((1 - w) * base + w * net, y, kinds).values())))
                             for w in GUARD_WEIGHTS}
        self.weight_ = max(GUARD_WEIGHTS, key=self.guard_table_.get)  # max keeps the first (smallest) of ties
        return self

    def score(self, base_scores, clf_scores, X):
        """Collated score of new rows (higher = more anomalous): the logit, blended with the detector once guarded."""
        logit = self.logit(base_scores, clf_scores, X)
        if not self.guard_table_:
            return logit
        return (1 - self.weight_) * self.base_z_(base_scores) + self.weight_ * self.net_z_(logit)
