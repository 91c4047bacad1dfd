"""Peak resident memory of a process tree, sampled with psutil.

``getrusage`` gives the peak of single processes only; the benchmark needs the
peak of the whole tree (main process + pool workers + cell children +
sandbox workers) at any moment, so a background thread sums RSS over the tree.
"""
import os
import threading

import psutil


def _tree_rss_bytes(root_pid):
    """Current RSS of ``root_pid`` and all its descendants, in bytes."""
    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in processes:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # the process ended while we looked
    return total


class TreeMemorySampler:
    """Context manager sampling the RSS sum of this process and all descendants.

    Attributes
    ----------
    peak_mb : float
        Largest sum seen (MiB).
    """

    def __init__(self, interval=1.0):
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="das-memory", daemon=True)

    def _run(self):
        pid = os.getpid()
        while True:
            self.peak_mb = max(self.peak_mb, _tree_rss_bytes(pid) / 2**20)
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False
