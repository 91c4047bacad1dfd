"""The registered detector names and their case-insensitive lookup (no detector imports)."""
from das.detectors.errors import UnknownDetector

DETECTOR_NAMES = ("PCA", "IForest", "OCSVM", "ECOD", "LOF", "KNN", "DRL")
_BY_LOWER = {name.lower(): name for name in DETECTOR_NAMES}


def canonical_name(name):
    """Return the canonical spelling of a detector name, or raise ``UnknownDetector``."""
    key = str(name).strip().lower()
    if key not in _BY_LOWER:
        raise UnknownDetector(
            f"unknown detector {name!r}; valid names: {', '.join(DETECTOR_NAMES)}"
        )
    return _BY_LOWER[key]
