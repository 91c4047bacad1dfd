"""Peak resident memory of a process tree, sampled from /proc (Linux).

``getrusage`` gives the peak of single processes only; the benchmark needs the
peak of the whole tree (main process + pool workers + cell children +
sandbox workers) at any moment, so a background thread sums RSS over the tree.
"""
import os
import threading
from pathlib import Path


def _tree_rss_bytes(root_pid):
    children, rss = {}, {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # the command name may contain spaces; fields after ")" are fixed
            fields = stat[stat.rindex(")") + 2:].split()
            pid, ppid, pages = int(entry.name), int(fields[1]), int(fields[21])
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
        children.setdefault(ppid, []).append(pid)
        rss[pid] = pages * page
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total


class TreeMemorySampler:
    """Context manager sampling the RSS sum of this process and all descendants.

    Attributes
    ----------
    peak_mb : float
        Largest sum seen (MiB); 0.0 where /proc is unavailable.
    """

    def __init__(self, interval=1.0):
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = None

    def _run(self):
        pid = os.getpid()
        while True:
            self.peak_mb = max(self.peak_mb, _tree_rss_bytes(pid) / 2**20)
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        if Path("/proc/self/stat").exists():
            self._thread = threading.Thread(target=self._run, name="das-memory", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return False
