"""Benchmark: the papers' protocol over datasets x detectors x seeds x methods.

``grid`` builds and caches cells, ``executors`` runs them (joblib or Dask),
``stats``/``tables`` summarise the JSONL results in the papers' formats,
``plots`` draws the figures and ``report`` assembles a results directory.
"""
from das.collab.bench.errors import BenchError
from das.collab.bench.grid import Cell, GridSummary, make_cells, run_grid
from das.collab.bench.log import ResultLog
from das.collab.bench.stats import Comparison, paired_comparison

__all__ = ["BenchError", "Cell", "ResultLog", "GridSummary", "make_cells", "run_grid",
           "Comparison", "paired_comparison"]
