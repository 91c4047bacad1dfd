"""Name → detector class registry and the ``make_detector`` factory."""
import importlib
import inspect

from das.detectors.names import DETECTOR_NAMES, canonical_name

__all__ = ["DETECTOR_NAMES", "canonical_name", "detector_class", "make_detector"]


#: Where each detector's class lives, imported on first use: PyOD takes about a second to
#: import and torch (DRL) more; the CLI's listing commands, the cards and the name checks need neither.
_MODULES = {"PCA": "pca", "IForest": "pyod_models", "OCSVM": "pyod_models", "ECOD": "ecod",
            "LOF": "pyod_models", "KNN": "pyod_models", "DRL": "drl"}


def detector_class(name):
    """Return the detector class registered under ``name`` (case-insensitive)."""
    key = canonical_name(name)
    return getattr(importlib.import_module(f"das.detectors.{_MODULES[key]}"), key)


def make_detector(name, **params):
    """Create an unfitted detector by name.

    Parameters
    ----------
    name : str
        One of :data:`DETECTOR_NAMES`, case-insensitive.
    **params
        Keyword arguments of the detector class (e.g. ``random_state=0``).

    Raises
    ------
    UnknownDetector
        For an unknown name.
    TypeError
        For a parameter the detector does not take.
    """
    cls = detector_class(name)
    valid = sorted(p for p in inspect.signature(cls.__init__).parameters if p != "self")
    bad = sorted(set(params) - set(valid))
    if bad:
        raise TypeError(
            f"{cls.name} got unknown parameter(s) {', '.join(bad)}; valid: {', '.join(valid)}"
        )
    return cls(**params)
