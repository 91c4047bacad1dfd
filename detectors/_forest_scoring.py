"""Isolation-forest scores on many rows: scikit-learn's numbers, in less than half its CPU time.

scikit-learn scores tree by tree: each of the 100 trees walks every row, one row
after the other, and each step waits for the last one's memory reads. Here the
trees are flattened into one array of nodes and a small compiled kernel walks
:data:`INTERLEAVE` rows through a tree side by side, so their reads overlap.
Every row still takes the same path (``x <= threshold`` goes left, with the
row cast to float32 as scikit-learn does), and the path lengths are summed in
the same tree order, so :func:`score_samples` equals
``IsolationForest.score_samples`` to the bit (a test compares them).

On 505k x 20 rows: 0.76 CPU s against scikit-learn's 1.70. Loading the kernel
costs 0.2-0.35 CPU s once per process (numba's disk cache holds the machine
code, not its start-up), so it is used only from :data:`MIN_ROWS` rows, where
scikit-learn's own scoring costs more than that.
"""
import weakref
from functools import cache

import numpy as np

#: Rows below which scikit-learn scores (the kernel's start-up would cost more than it saves).
MIN_ROWS = 2**17
#: Rows scored at a time, either way: without whole-array temporaries per tree (scikit-learn's,
#: on 500k rows: 15-20 % less CPU, measured) and with a float32 copy of one block only.
SCORE_BLOCK_ROWS = 2**17
#: Rows walked through one tree side by side, and rows walked through every tree before the next
#: rows (they stay in the processor's cache).
INTERLEAVE = 16
BLOCK_ROWS = 1024


def score_samples(forest, X):
    """``forest.score_samples(X)`` for a fitted :class:`sklearn.ensemble.IsolationForest`, faster on many rows.

    Rows are scored :data:`SCORE_BLOCK_ROWS` at a time (the same numbers: rows
    are scored one by one), so the temporaries stay small whatever ``len(X)``.
    """
    X = np.asarray(X)
    # NaN rows follow scikit-learn's missing-value rules: scikit-learn scores them.
    fast = len(X) >= MIN_ROWS and np.isfinite(X).all() and _kernel() is not None
    score = _fast_score_samples if fast else type(forest).score_samples
    blocks = range(0, max(len(X), 1), SCORE_BLOCK_ROWS)  # one call for no rows: scikit-learn's own error
    return np.concatenate([score(forest, X[i:i + SCORE_BLOCK_ROWS]) for i in blocks])


def _fast_score_samples(forest, X):
    depths = np.zeros(len(X))
    _kernel()(np.ascontiguousarray(X, dtype=np.float32), *_flat_forest(forest), depths)
    denominator = len(forest.estimators_) * _average_path_length(forest._max_samples)
    return -(2 ** (-np.divide(depths, denominator, out=np.ones_like(depths), where=denominator != 0)))


def _average_path_length(n_samples):
    from sklearn.ensemble._iforest import _average_path_length

    return _average_path_length([n_samples])


def _flat_forest(forest):
    """The forest's trees as one node array: children, feature, threshold, value, roots, depth.

    A leaf is its own child (feature 0), so every row takes ``depth`` steps
    without a branch; ``value`` is the path length scikit-learn adds at a leaf.
    """
    estimators, flat = _FLAT.get(forest, (None, None))
    if estimators is not forest.estimators_:  # first use, or the forest was fitted again
        children, feature, threshold, value, roots = [], [], [], [], []
        offset, depth = 0, 0
        for tree, columns, lengths, averages in zip(forest.estimators_, forest.estimators_features_,
                                                    forest._decision_path_lengths,
                                                    forest._average_path_length_per_tree):
            t = tree.tree_
            leaf = t.children_left == -1
            node = np.arange(t.node_count)
            left = np.where(leaf, node, t.children_left)
            right = np.where(leaf, node, t.children_right)
            children.append(np.stack([left, right], axis=1) + offset)
            feature.append(np.where(leaf, 0, np.asarray(columns)[np.where(leaf, 0, t.feature)]))
            threshold.append(t.threshold)
            value.append(lengths + averages - 1.0)
            roots.append(offset)
            offset, depth = offset + t.node_count, max(depth, t.max_depth)
        flat = (np.concatenate(children).astype(np.intp), np.concatenate(feature).astype(np.intp),
                np.concatenate(threshold), np.concatenate(value), np.asarray(roots, np.intp), depth)
        _FLAT[forest] = forest.estimators_, flat
    return flat


#: Each fitted forest's flat nodes, as long as the forest lives (never pickled with it).
_FLAT = weakref.WeakKeyDictionary()


@cache
def _kernel():
    """The compiled walk (numba), cached on disk where numba can write; None where numba's JIT is
    switched off (``NUMBA_DISABLE_JIT``: the walk would run as Python, far slower than scikit-learn)."""
    import numba

    if numba.config.DISABLE_JIT:
        return None

    def walk(X, children, feature, threshold, value, roots, depth, out):
        nodes = np.empty(INTERLEAVE, np.intp)
        for block in range(0, X.shape[0], BLOCK_ROWS):
            stop = min(block + BLOCK_ROWS, X.shape[0])
            for root in roots:
                for start in range(block, stop, INTERLEAVE):
                    width = min(INTERLEAVE, stop - start)
                    nodes[:width] = root
                    for _ in range(depth):
                        for j in range(width):
                            node = nodes[j]
                            nodes[j] = children[node, np.intp(not X[start + j, feature[node]] <= threshold[node])]
                    for j in range(width):
                        out[start + j] += value[nodes[j]]

    try:
        return numba.njit(nogil=True, cache=True)(walk)
    except RuntimeError:  # no writable cache directory: compile in memory
        return numba.njit(nogil=True)(walk)
