"""Anomaly detectors behind one PyOD-style contract, with parameter-free cards for prompts.

>>> from detectors import make_detector
>>> det = make_detector("iforest", random_state=0)

Names are resolved lazily (PEP 562) so that importing the registry, the cards or the
errors does not import PyOD or torch.
"""
import importlib

_EXPORTS = {
    "CARDS": "detectors.cards",
    "DetectorCard": "detectors.cards",
    "get_card": "detectors.cards",
    "DETECTOR_NAMES": "detectors.names",
    "canonical_name": "detectors.names",
    "detector_class": "detectors.registry",
    "make_detector": "detectors.registry",
    "DetectorInputError": "detectors.errors",
    "DetectorParameterError": "detectors.errors",
    "UnknownDetector": "detectors.errors",
    "Detector": "detectors.base",
    "DRL": "detectors.drl",
    "ECOD": "detectors.ecod",
    "PCA": "detectors.pca",
    "IForest": "detectors.pyod_models",
    "KNN": "detectors.pyod_models",
    "LOF": "detectors.pyod_models",
    "OCSVM": "detectors.pyod_models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'detectors' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # cache: later look-ups skip this hook
    return value


def __dir__():
    return __all__
