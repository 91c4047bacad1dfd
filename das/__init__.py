"""das: a sandboxed code-generation engine with a verified program store.

The public entry is the estimator::

    from das import EnhancedDetector

The parts live in ``das.engine``, ``das.sandbox``, ``das.program_store``,
``das.detectors`` and ``das.collab`` (in the repository they are the top-level
folders of the same names, mapped here by ``pyproject.toml``).
"""
__all__ = ["EnhancedDetector"]


def __getattr__(name):
    # Lazy: ``import das.sandbox`` (the zygote, the CLI) must not pay for the runtime.
    if name == "EnhancedDetector":
        from das.collab.estimator import EnhancedDetector
        return EnhancedDetector
    raise AttributeError(f"module 'das' has no attribute {name!r}")
