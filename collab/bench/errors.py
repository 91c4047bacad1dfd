"""The benchmark's one error type."""


class BenchError(ValueError):
    """Bad benchmark input (unknown dataset, detector, method or results file)."""
