"""Sources of synthetic anomalies, behind one call.

Every source answers ``rows(X_train, n, scorer, seed)`` with ``n`` synthetic
rows (or None: no enhancement), and has a ``name`` (the selection table's),
a ``sha256`` (a program's, else None) and an ``activity`` (the progress stage). ``scorer(X) -> scores`` is the fitted
detector's score, higher = more anomalous (the sandbox's model proxy).

- :class:`NoEnhancement`: the detector alone (no rows).
- :class:`RandomOutliers`: uniform rows from the training bounding box widened
  by 10 % per side (LLM-DAS App. 6.13.1).
- :class:`GaussianNoise`: training rows plus Gaussian noise (App. 6.13.1).
- :class:`CertifiedProgram`: a synthesis program, run in the sandbox; its
  rows then pass the run-time output check (:func:`check_output`) on the
  data at hand. :class:`UncertifiedProgram` is program text the user opted
  into; it runs the same way.

The fixed path, ``program="auto"``, ``das select``, the benchmark and the
certification service's ``useful`` measurement all draw rows through this
call, so a program's rows are checked whichever path asked for them.
"""
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from das.collab import enhance


class OutputRefused(enhance.SynthesisError):
    """The program's output on the user's data copies training rows or repeats itself."""


def check_output(X_train, X_syn):
    """Refuse synthesized rows that fail the suite's novelty measure (:func:`sandbox.novelty.measure`)
    on this data: a certified program may behave on the suite and copy on real data.

    Every output row is checked (a sample could be predicted by the program).
    """
    from das.sandbox.novelty import measure

    problems = measure(X_train, X_syn).problems()
    if problems:
        raise OutputRefused("refused the program's output on this data: " + "; ".join(problems))


def check_unseen(X_all, X_syn):
    """Refuse synthesized rows that copy or near-copy training rows outside the subsample their
    source was given (:func:`sandbox.novelty.unseen_copies`, the limits of the output check):
    every row the model is fitted on is protected."""
    from das.sandbox.novelty import unseen_copies

    problems = unseen_copies(X_all, X_syn).problems()
    if problems:
        raise OutputRefused("refused the output on this data: " + "; ".join(problems))


@dataclass(frozen=True)
class NoEnhancement:
    """The detector alone: no synthetic rows."""

    name: ClassVar[str] = "none"
    sha256: ClassVar[None] = None
    source: ClassVar[None] = None
    activity: ClassVar[str] = "no synthetic rows"

    def rows(self, X_train, n, scorer, seed):
        return None


@dataclass(frozen=True)
class RandomOutliers:
    """Uniform rows from the training bounding box widened by :data:`enhance.RANDOM_WIDEN` per side."""

    name: ClassVar[str] = "random"
    sha256: ClassVar[None] = None
    source: ClassVar[None] = None
    activity: ClassVar[str] = "draw random outliers"

    def rows(self, X_train, n, scorer, seed):
        return enhance.random_outliers(X_train, n, np.random.default_rng(seed))


@dataclass(frozen=True)
class GaussianNoise:
    """Training rows plus ``N(0, std_j^2)`` noise (:func:`enhance.gaussian_noise`)."""

    name: ClassVar[str] = "gaussian"
    sha256: ClassVar[None] = None
    source: ClassVar[None] = None
    activity: ClassVar[str] = "draw Gaussian noise"

    def rows(self, X_train, n, scorer, seed):
        return enhance.gaussian_noise(X_train, n, np.random.default_rng(seed))


@dataclass(frozen=True)
class CertifiedProgram:
    """A synthesis program from the store: run in the sandbox, its rows checked on the data at hand.

    Raises :class:`enhance.SynthesisError` from :meth:`rows` when the sandbox
    refuses or the program fails, :class:`OutputRefused` when its rows copy
    training rows or repeat themselves.
    """

    source: str = field(repr=False)
    sha256: str
    prefix: ClassVar[str] = "program"
    activity: ClassVar[str] = "synthesize in the sandbox"

    @property
    def name(self):
        return f"{self.prefix}:{self.sha256[:12]}"

    def rows(self, X_train, n, scorer, seed):
        X_syn = enhance.synthesize(self.source, X_train, n, scorer, seed=seed)
        check_output(X_train, X_syn)
        return X_syn


@dataclass(frozen=True)
class UncertifiedProgram(CertifiedProgram):
    """Program text the user opted into (``allow_uncertified=True``): run exactly like a certified one."""

    prefix: ClassVar[str] = "uncertified"


#: Noise added to each drawn known anomaly, as a multiple of each feature's training std. 0.1:
#: decided on the 12 decision datasets with 10 known anomalies against 0.25 (the a-priori value
#: before) and 0.5 (``results/no_harm/decision_known_jitter.txt``).
KNOWN_JITTER = 0.1


@dataclass(frozen=True)
class KnownAnomalies:
    """The user's known anomalies as the synthetic rows: drawn with replacement, plus
    ``N(0, (KNOWN_JITTER std_j)^2)`` noise, so the classifier learns what this data's
    anomalies look like. Only offered when known anomalies are given (``fit(X,
    y_known=...)``, ``--labels``); the rows are the user's own, so no sandbox runs.
    """

    known: np.ndarray = field(repr=False, compare=False)
    name: ClassVar[str] = "known"
    sha256: ClassVar[None] = None
    source: ClassVar[None] = None
    activity: ClassVar[str] = "draw from the known anomalies"

    def rows(self, X_train, n, scorer, seed):
        rng = np.random.default_rng(seed)
        drawn = self.known[rng.integers(0, len(self.known), size=n)]
        std = X_train.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return enhance.representable(drawn + rng.normal(0.0, 1.0, size=drawn.shape) * (KNOWN_JITTER * std))


#: The label-free baselines a user may name as ``program=``.
BASELINES = {s.name: s for s in (NoEnhancement(), RandomOutliers())}


@dataclass(frozen=True)
class Mixture:
    """The ensemble of several sources: ``n`` split among them as evenly as possible, in order.

    Each part is drawn by its own source's :meth:`rows` (a program's part in
    the sandbox, then the output check), with the seed offset by its position,
    so a mixture is refused exactly when one of its parts is.
    """

    parts: tuple
    sha256: ClassVar[None] = None
    source: ClassVar[None] = None
    activity: ClassVar[str] = "draw a mixture of sources"

    @property
    def name(self):
        return "ensemble"

    def rows(self, X_train, n, scorer, seed):
        shares = np.diff(np.linspace(0, n, len(self.parts) + 1).round().astype(int))
        drawn = [part.rows(X_train, int(k), scorer, seed + i)
                 for i, (part, k) in enumerate(zip(self.parts, shares)) if k > 0]
        drawn = [rows for rows in drawn if rows is not None]
        return np.vstack(drawn) if drawn else None


def programs_of(source):
    """The sha256s of the stored programs whose rows ``source`` draws (a mixture: its parts')."""
    if isinstance(source, Mixture):
        return tuple(sha for part in source.parts for sha in programs_of(part))
    return () if source.sha256 is None else (source.sha256,)
