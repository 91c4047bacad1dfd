"""One compute thread while a detector fits or scores, so scores never depend on the machine.

Parallel reductions (BLAS, OpenMP, torch's intra-op pool) add partial sums in an order
that depends on the thread count, which changes the last bits of a score and, through
ties and training dynamics, AUC-PR. Detectors therefore compute on one thread inside
:func:`one_thread` and leave the caller's settings as they were afterwards.

The limits are process-wide; a reference count makes concurrent blocks from several
threads safe: the first one in sets the limits, the last one out restores them.
"""
import sys
import threading
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

_lock = threading.Lock()
_depth = 0
_undo = []  # callables restoring the caller's settings, run in reverse order
_torch_pinned = False
_controllers = {}  # scanning the loaded libraries takes ~50 ms: once, and again after torch


def _controller():
    """The BLAS/OpenMP pools loaded now (rescanned once torch has brought its own)."""
    key = "torch" in sys.modules
    if key not in _controllers:
        _controllers[key] = ThreadpoolController()
    return _controllers[key]


def _pin_torch():
    """Pin torch's intra-op pool once torch is loaded (DRL loads it on first fit)."""
    global _torch_pinned
    torch = sys.modules.get("torch")
    if torch is None or _torch_pinned:
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    _undo.append(lambda: torch.set_num_threads(threads))
    _torch_pinned = True


@contextmanager
def one_thread():
    """Run the block with the BLAS/OpenMP pools and torch limited to one thread."""
    global _depth, _torch_pinned
    with _lock:
        if _depth == 0:
            _undo.append(_controller().limit(limits=1).restore_original_limits)
        _pin_torch()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                while _undo:
                    _undo.pop()()
                _torch_pinned = False
