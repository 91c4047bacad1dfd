"""DRL: decomposed representation learning (Ye et al., ICLR 2025), in torch, CPU-friendly."""
import math

import numpy as np
from sklearn.utils import check_random_state

from das.detectors._threads import one_thread
from das.detectors._torch_state import network_state, rebuilt
from das.detectors.base import Detector
from das.detectors.errors import DetectorParameterError


def _orthonormal_basis(k, dim, rng):
    """K random orthonormal rows of length ``dim`` (Gram-Schmidt through QR)."""
    q, r = np.linalg.qr(rng.standard_normal((dim, k)))
    # Fix QR's sign ambiguity so the basis depends only on the seed.
    return (q * np.sign(np.diag(r))).T


def _build_network(d, hidden, k):
    """The DRL network (float32) for ``d`` features, ``hidden`` units and ``k`` basis vectors."""
    import torch.nn as nn

    class _DRLNet(nn.Module):
        def __init__(self):
            super().__init__()
            # Bias-free layers as in the reference: a bias would let the encoder map
            # everything to one constant vector that the basis reproduces trivially.
            self.encoder = nn.Sequential(
                nn.Linear(d, hidden, bias=False), nn.LeakyReLU(0.2),
                nn.Linear(hidden, hidden, bias=False), nn.LeakyReLU(0.2),
            )
            self.phi = nn.Sequential(
                nn.Linear(d, hidden, bias=False), nn.LeakyReLU(0.2),
                nn.Linear(hidden, k, bias=False),
            )
            self.decoder = nn.Linear(hidden, d, bias=False)

        def forward(self, x, basis):
            h = self.encoder(x)
            w = self.phi(x).softmax(dim=1)
            return h, w, w @ basis

    return _DRLNet().float()


class DRL(Detector):
    """Decomposed Representation Learning for tabular anomaly detection.

    Normal rows are embedded (``h = E(x)``) and forced to lie in the span of a fixed
    random orthonormal basis ``B`` through sample-specific weights ``w = softmax(Φ(x))``.
    Loss per row: ``max(‖h − wB‖², ‖h − wB‖² / ‖h‖²) + 0.01 (1 − cos(D(h), x))`` plus
    ``0.01 ×`` mean off-diagonal cosine similarity of the weights of a random 80 % of the
    batch. Score: mean over hidden units of ``(h − wB)²``.

    Parameters
    ----------
    epochs : int, default=200
    batch_size : int, default=512
    lr : float, default=0.05
    weight_decay : float, default=1e-5
    lr_decay : float, default=0.98
        ExponentialLR factor applied once per epoch.
    hidden_dim : int, default=128
    n_basis : int, default=5
    recon_weight, diversity_weight : float, default=0.01
    diversity_fraction : float, default=0.8
    contamination : float, default=0.1
    random_state : int or None, default=None
        Seeds weights, basis and batch order; same seed → same scores on CPU, whatever
        the thread count (torch computes on one thread inside fit and scoring).
    """

    name = "DRL"

    def __init__(self, *, epochs=200, batch_size=512, lr=0.05, weight_decay=1e-5,
                 lr_decay=0.98, hidden_dim=128, n_basis=5, recon_weight=0.01,
                 diversity_weight=0.01, diversity_fraction=0.8, contamination=0.1,
                 random_state=None):
        super().__init__(contamination=contamination)
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_decay = lr_decay
        self.hidden_dim = hidden_dim
        self.n_basis = n_basis
        self.recon_weight = recon_weight
        self.diversity_weight = diversity_weight
        self.diversity_fraction = diversity_fraction
        self.random_state = random_state

    def _fit_scores(self, X):
        import torch  # noqa: F401 -- loaded first, so that one_thread pins its pool too

        with one_thread():
            return self._train(X)

    def _train(self, X):
        import torch

        self._check_params()
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        gen = torch.Generator().manual_seed(seed)
        self.basis_ = _orthonormal_basis(self.n_basis, self.hidden_dim,
                                         np.random.default_rng(seed))
        # nn.Linear's own initialisation draws from torch's global RNG, which concurrent fits
        # share: build inside a fork (the caller's state is left as it was), then draw the
        # weights again from a generator of this fit's own, as nn.Linear does (kaiming-uniform,
        # a = sqrt(5)), so fits from several threads give the single-thread scores.
        with torch.random.fork_rng(devices=[]):
            # float32: several times faster than float64 on CPU, ample for a ranking score.
            model = _build_network(X.shape[1], self.hidden_dim, self.n_basis)
        init_gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in model.modules():
                if isinstance(layer, torch.nn.Linear):
                    torch.nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=init_gen)
        basis = torch.from_numpy(self.basis_.astype(np.float32))
        data = torch.from_numpy(X.astype(np.float32))
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=self.lr_decay)
        model.train()
        for _ in range(int(self.epochs)):
            order = torch.randperm(len(data), generator=gen)
            for start in range(0, len(data), self.batch_size):
                batch = data[order[start:start + self.batch_size]]
                loss = self._loss(model, batch, basis, gen)
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
        model.eval()
        self.model_ = model
        self.loss_ = float(loss.detach())
        return self._score(X)

    def __getstate__(self):  # the fitted network pickles as its weights (its class is local)
        state = dict(super().__getstate__())  # a copy: object's is the instance's own __dict__
        model = state.pop("model_", None)
        if model is not None:
            args = (model.decoder.out_features, model.decoder.in_features, model.phi[-1].out_features)
            state["_network"] = network_state(_build_network, args, model)
        return state

    def __setstate__(self, state):
        state = dict(state)
        network = state.pop("_network", None)
        super().__setstate__(state)
        if network is not None:
            self.model_ = rebuilt(network)

    def _check_params(self):
        for name in ("epochs", "batch_size", "hidden_dim", "n_basis"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise DetectorParameterError(f"DRL {name} must be a positive integer, got {value!r}")
        if self.n_basis > self.hidden_dim:
            raise DetectorParameterError(f"DRL n_basis ({self.n_basis}) cannot exceed hidden_dim "
                             f"({self.hidden_dim}): the basis must be orthonormal")
        if not 0 < self.diversity_fraction <= 1:
            raise DetectorParameterError("DRL diversity_fraction must be in (0, 1], got "
                             f"{self.diversity_fraction!r}")

    def _loss(self, model, x, basis, gen):
        import torch
        import torch.nn.functional as F

        h, w, h_hat = model(x, basis)
        err = ((h - h_hat) ** 2).sum(dim=1)
        # The relative term stops the trivial solution h → 0 from minimising the loss.
        rel = err / (h ** 2).sum(dim=1).clamp_min(1e-12)
        loss = torch.maximum(err, rel).mean()
        recon = model.decoder(h)
        loss = loss + self.recon_weight * (1 - F.cosine_similarity(recon, x, dim=1)).mean()
        m = max(2, int(round(self.diversity_fraction * len(x))))
        if len(x) >= 2:
            idx = torch.randperm(len(x), generator=gen)[:m]
            wn = F.normalize(w[idx], dim=1)
            sim = wn @ wn.T
            off = sim.sum() - sim.diagonal().sum()
            loss = loss + self.diversity_weight * off / (len(idx) * (len(idx) - 1))
        return loss

    def _score(self, X):
        import torch

        with one_thread(), torch.no_grad():
            x = torch.from_numpy(X.astype(np.float32))
            h, _, h_hat = self.model_(x, torch.from_numpy(self.basis_.astype(np.float32)))
            return ((h - h_hat) ** 2).mean(dim=1).numpy().astype(np.float64)
