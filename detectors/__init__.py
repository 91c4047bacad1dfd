"""Anomaly detectors behind one PyOD-style contract, with parameter-free cards for prompts.

>>> from detectors import make_detector
>>> det = make_detector("iforest", random_state=0)

Names are resolved lazily (PEP 562) so that importing the registry, the cards or the
errors does not import PyOD or torch.
"""
import importlib

_EXPORTS = {
    "CARDS": "das.detectors.cards",
    "DetectorCard": "das.detectors.cards",
    "get_card": "das.detectors.cards",
    "DETECTOR_NAMES": "das.detectors.names",
    "canonical_name": "das.detectors.names",
    "detector_class": "das.detectors.registry",
    "make_detector": "das.detectors.registry",
    "DetectorInputError": "das.detectors.errors",
    "DetectorParameterError": "das.detectors.errors",
    "UnknownDetector": "das.detectors.errors",
    "Detector": "das.detectors.base",
    "DRL": "das.detectors.drl",
    "ECOD": "das.detectors.ecod",
    "PCA": "das.detectors.pca",
    "IForest": "das.detectors.pyod_models",
    "KNN": "das.detectors.pyod_models",
    "LOF": "das.detectors.pyod_models",
    "OCSVM": "das.detectors.pyod_models",
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
