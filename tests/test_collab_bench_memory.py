"""The tree memory sampler sees memory held by child processes."""
import subprocess
import sys
import time

from das.collab.bench.memory import TreeMemorySampler, _tree_rss_bytes


def test_sampler_includes_children():
    own = _tree_rss_bytes(__import__("os").getpid()) / 2**20
    code = "import numpy as np, time; a = np.ones(25_000_000); time.sleep(1.0)"  # ~190 MiB touched
    with TreeMemorySampler(interval=0.1) as mem:
        subprocess.run([sys.executable, "-c", code], check=True)
        time.sleep(0.2)
    assert mem.peak_mb > own + 150
