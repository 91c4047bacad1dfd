"""Named errors of the detectors package."""


class UnknownDetector(ValueError):
    """Raised for a detector name that is not in the registry."""


class DetectorInputError(ValueError):
    """Raised when X is not a finite, numeric 2-D array of the expected width."""


class DetectorParameterError(ValueError):
    """Raised at fit time for a hyper-parameter value the detector cannot use."""


class SubsampleWarning(UserWarning):
    """A detector that does not scale was fitted on a seeded subsample of the training rows."""
