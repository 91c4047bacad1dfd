"""Name → detector class registry and the ``make_detector`` factory."""
import inspect

from das.detectors.names import DETECTOR_NAMES, canonical_name

__all__ = ["DETECTOR_NAMES", "canonical_name", "detector_class", "make_detector"]


def detector_class(name):
    """Return the detector class registered under ``name`` (case-insensitive)."""
    # Imported on demand: PyOD takes about a second to import and the CLI's listing
    # commands, the cards and the name checks do not need it.
    from das.detectors.drl import DRL
    from das.detectors.ecod import ECOD
    from das.detectors.pca import PCA
    from das.detectors.pyod_models import KNN, LOF, OCSVM, IForest

    classes = {cls.name: cls for cls in (PCA, IForest, OCSVM, ECOD, LOF, KNN, DRL)}
    return classes[canonical_name(name)]


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
