"""Progress of a long pipeline call: one tqdm bar on stderr, advanced stage by stage.

The pipeline marks its stages with :func:`stage`; they show only inside
:func:`progress_bar` (``das enhance`` opens one), so the estimator, the
benchmark and tests stay silent.
"""
import contextlib
import contextvars
import sys

_BAR = contextvars.ContextVar("das_progress_bar", default=None)


@contextlib.contextmanager
def progress_bar(desc, total, enabled=None):
    """Show stages of the enclosed calls as a bar of ``total`` steps.

    ``enabled``: True, False, or None for "when stderr is a terminal" (tqdm's rule).
    """
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="stage", file=sys.stderr, disable=None if enabled is None else not enabled,
               bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {elapsed} {postfix}")
    bar.started = False
    token = _BAR.set(bar)
    try:
        yield bar
        bar.update(max(0, bar.total - bar.n))  # stages a path skipped (e.g. no program chosen)
        bar.set_postfix_str("done")
    finally:
        _BAR.reset(token)
        bar.close()


def stage(what):
    """Start stage ``what``: the previous one is done (a no-op outside :func:`progress_bar`)."""
    bar = _BAR.get()
    if bar is None:
        return
    if bar.started:
        bar.update(1)
    bar.started = True
    bar.set_postfix_str(what)
