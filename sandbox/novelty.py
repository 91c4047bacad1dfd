"""Whether synthesized rows copy training rows or repeat each other.

One measure for the property suite (``novel``, ``far_from_training``,
``diverse``) and the runtime, which checks a certified program's actual output
on the user's data before the classifier is trained on it (a program can behave
on the suite and copy on real data). Distances are in standardized units (each
feature divided by its training spread). A synthesized row whose nearest
training row ``x`` lies within ``COPY_RATIO`` (copy) or ``NEAR_RATIO`` (near
copy) times ``x``'s own distance to its nearest other distinct training row is
counted as such; the local scale holds in dense and sparse regions alike. Two
synthesized rows within ``REPEAT_RATIO`` times the median of those distances
repeat each other.

Thresholds, measured on 38 bundled, replay-corpus and honest example programs
(152 outputs on the four suite datasets of seed 0, sandbox of commit 42f69f8):
no sound output has a row within 0.01 x the local gap; at 0.1 x, the share is
at most 0.365 (p99 0.31, p95 0.07: PCA "shell" programs that step 2 % of the
way out), while training rows moved by 5 % of the median gap (red-team p9)
have 0.52-1.0 on every suite dataset of seeds 0-3.

Rows are compared as the enhancement's forest sees them: rounded to float32
(scikit-learn's trees cast to it, so rows that differ only below float32's
resolution are the same rows to the classifier), with ``-0.0`` read as ``0.0``
(they compare equal but differ in their bytes).

Every output row is checked (a sample of them could be predicted and dodged:
red-team c1 hid 58 % exact training-row copies outside a 1000-row sample drawn
from the run seed), in O(n log n) whatever the duplicates: rows are grouped by
a hash of their bytes (each distinct output row is examined once, and one
that is byte-equal to a training row is an exact copy without a search); the
spacing of at most ``MAX_REFERENCE_ROWS`` training rows (sampled with a seed
hashed from the data, which the program cannot choose row by row) comes from
an exact blocked matrix-product search instead of unbounded KD-tree queries
(which visit most of the tree in many dimensions); the remaining distinct
output rows are searched within a distance bound; the local spacing of a
matched training row is searched only as far as the verdict needs (beyond
100 x the match distance both ratios hold); and the repeat search runs over
distinct output rows (identical rows repeat each other at distance 0; a
KD-tree over many identical rows is one leaf searched by every query,
quadratic). ``benchmarks/novelty_scale.py`` times it against the previous
implementation on 1M x 20 training rows.
"""
import hashlib
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from das.sandbox.results import MAX_ABS_VALUE

COPY_RATIO = 0.01
NEAR_RATIO = 0.1
REPEAT_RATIO = 0.01
#: Allowed shares of synthesized rows that copy a training row (novel), near-copy
#: one (far_from_training) or repeat another synthesized row (diverse).
MAX_COPY_FRACTION = 0.05
MAX_NEAR_FRACTION = 0.5
MAX_REPEAT_FRACTION = 0.2
MAX_REFERENCE_ROWS = 500  # training rows whose spacing sets the search bound (all OUTPUT rows are checked)


@dataclass(frozen=True)
class Novelty:
    """Shares of synthesized rows that copy or near-copy a training row or repeat another output row."""

    copy_fraction: float
    near_fraction: float
    repeat_fraction: float
    gap: float  # median distance between nearest distinct training rows (standardized units)
    checked_rows: int

    def problems(self):
        """One line per share over its limit (empty when the output is acceptable)."""
        limits = ((self.copy_fraction, MAX_COPY_FRACTION, "are (near) copies of training rows"),
                  (self.near_fraction, MAX_NEAR_FRACTION,
                   f"lie within {NEAR_RATIO} x the local row spacing of a training row"),
                  (self.repeat_fraction, MAX_REPEAT_FRACTION, "(near) repeat another synthesized row"))
        return [f"{share:.0%} of {self.checked_rows} synthesized rows {what} (limit {limit:.0%})"
                for share, limit, what in limits if share > limit]


def as_classifier_sees(A):
    """``A`` as float64 holding its float32 rounding (values beyond float32's range kept as they
    are), with ``-0.0`` made ``0.0``: equal rows here are equal rows to the forest."""
    A = np.asarray(A, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # the values beyond float32 are put back below
        out = A.astype(np.float32).astype(np.float64)
        edge = np.flatnonzero(~(np.abs(out.reshape(-1)) < MAX_ABS_VALUE))  # few: at or past float32's max
    if len(edge):
        flat, raw = out.reshape(-1), A.reshape(-1)[edge]
        flat[edge] = np.where(np.abs(raw) <= MAX_ABS_VALUE, flat[edge], raw)
    out += 0.0  # -0.0 + 0.0 is 0.0
    return out


def _data_rng(*arrays):
    """A generator seeded from a hash of ``arrays``: nothing the program is told (such as the run seed)."""
    h = hashlib.blake2b(digest_size=16)
    for A in arrays:
        h.update(np.ascontiguousarray(A).tobytes())
    return np.random.default_rng(int.from_bytes(h.digest(), "little"))


def _sample(X, limit, rng):
    return X if len(X) <= limit else X[np.sort(rng.choice(len(X), limit, replace=False))]


def _standardize(X_train, *others):
    center = X_train.mean(axis=0)
    scale = X_train.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return [(np.asarray(A, dtype=np.float64) - center) / scale for A in (X_train, *others)]


def _row_groups(A):
    """``(first, inverse)``: index of one row per group of byte-equal rows of ``A``, and each row's group.

    Rows are grouped by a 64-bit hash of their bytes, then checked equal to
    their group's row; a hash collision (never seen) falls back to a sort.
    """
    bits = np.ascontiguousarray(A).view(np.uint64)
    h = np.full(len(A), 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in bits.T:
            h = (h ^ column) * np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
    _, first, inverse = np.unique(h, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    if not np.array_equal(bits, bits[first[inverse]]):
        _, first, inverse = np.unique(bits, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
    return first, inverse


def _lookup(Z, rows):
    """Index into ``Z`` (distinct rows) of each of ``rows`` byte-equal to one, else -1."""
    bits, wanted = np.ascontiguousarray(Z).view(np.uint64), np.ascontiguousarray(rows).view(np.uint64)
    both = np.concatenate([bits, wanted])
    first, inverse = _row_groups(both)
    index = np.full(len(first), -1, dtype=np.int64)
    in_Z = first < len(Z)
    index[in_Z] = first[in_Z]
    return index[inverse[len(Z):]]


#: Rows of ``Z`` per block of the exact spacing search (a block of products is ~32 MB).
#: Threads per KD-tree query: one. Same CPU seconds and results; a Ctrl-C during a threaded query
#: crashed the interpreter once in ~35 interrupts (a new user's walkthrough).
_QUERY_THREADS = 1
_BLOCK_ROWS = 8192


#: Queries per chunk of the exact spacing search, and the most candidate rows one query may have
#: before it is answered by a tree search instead (rows closer together than the products'
#: rounding error all stay candidates: tight clusters would otherwise take quadratic memory).
_QUERY_CHUNK = 256
_MAX_CANDIDATES = 256


def _second_nearest(Z, Q):
    """Distance from each row of ``Q`` (rows of ``Z``, whose rows are distinct) to its
    second nearest row of ``Z``, itself being the first: what
    ``cKDTree(Z).query(Q, k=2)[0][:, 1]`` gives, without visiting most of the tree.

    Squared distances from a matrix product are off by at most ``err`` (bounded
    from the norms); the rows within ``2 err`` of each query's second smallest
    estimate are the only candidates, and their distances are measured directly.
    Queries go in chunks; one left with more than :data:`_MAX_CANDIDATES` is
    searched in a KD-tree.
    """
    zz = np.einsum("ij,ij->i", Z, Z)
    out, crowded = np.empty(len(Q)), []
    for start in range(0, len(Q), _QUERY_CHUNK):
        part = slice(start, start + _QUERY_CHUNK)
        out[part], many = _second_nearest_chunk(Z, zz, Q[part])
        crowded.extend(start + many)
    if crowded:
        out[crowded] = cKDTree(Z).query(Q[crowded], k=2, workers=_QUERY_THREADS)[0][:, 1]
    return out


def _second_nearest_chunk(Z, zz, Q):
    """:func:`_second_nearest` of a few queries; also the queries with too many candidates (their
    distances are left NaN)."""
    qq = np.einsum("ij,ij->i", Q, Q)
    err = 4 * (Z.shape[1] + 4) * np.finfo(np.float64).eps * (np.sqrt(qq) + np.sqrt(zz.max())) ** 2
    first, second = np.full(len(Q), np.inf), np.full(len(Q), np.inf)
    rows, found = np.arange(len(Q)), []
    for start in range(0, len(Z), _BLOCK_ROWS):
        block = slice(start, start + _BLOCK_ROWS)
        d2 = Q @ Z[block].T
        d2 *= -2.0
        d2 += zz[block]
        d2 += qq[:, None]
        nearest = d2.argmin(axis=1)
        smallest = d2[rows, nearest]
        d2[rows, nearest] = np.inf
        # the two smallest estimates so far: of (first, second) and this block's two
        second = np.minimum(np.maximum(first, smallest), np.minimum(second, d2.min(axis=1)))
        first = np.minimum(first, smallest)
        d2[rows, nearest] = smallest
        q, z = np.nonzero(d2 <= (second + 2.0 * err)[:, None])
        found.append((q, z + start, d2[q, z]))
    q, z, estimate = (np.concatenate(parts) for parts in zip(*found))
    keep = estimate <= second[q] + 2.0 * err[q]  # at least the two smallest estimates per query
    q, z = q[keep], z[keep]
    many = np.flatnonzero(np.bincount(q, minlength=len(Q)) > _MAX_CANDIDATES)
    if len(many):
        kept = ~np.isin(q, many)
        q, z = q[kept], z[kept]
    exact = np.sqrt(((Z[z] - Q[q]) ** 2).sum(axis=1))
    order = np.lexsort((exact, q))
    out = np.full(len(Q), np.nan)
    answered = np.setdiff1d(rows, many)
    out[answered] = exact[order][np.searchsorted(q[order], answered) + 1]
    return out, many


def _local_spacing(tree, Z, rows, reach):
    """Distance from each training row ``Z[rows]`` to its nearest other row where it is at
    most ``reach`` (per row), ``inf`` where it is farther (all a caller needs to know).

    Queries are grouped by their reach rounded up to a power of two: one
    bounded KD-tree query per group, each searching no farther than needed.
    """
    local = np.full(len(rows), np.inf)
    exponent = np.ceil(np.log2(np.maximum(reach, 1e-300)))
    for value in np.unique(exponent):
        group = exponent == value
        bound = float(np.exp2(value)) * (1 + 1e-9)
        local[group] = tree.query(Z[rows[group]], k=2, distance_upper_bound=bound, workers=_QUERY_THREADS)[0][:, 1]
    return local


#: Slack of the first, approximate spacing search: it returns a distance between the
#: spacing and (1 + _APPROX) x the spacing, which settles most matches at a fraction of the cost.
_APPROX = 9.0


def _within_spacing(tree, Z, nearest, dist):
    """For each match (training row ``Z[nearest]`` at ``dist`` > 0): whether ``dist`` is within
    ``COPY_RATIO`` and within ``NEAR_RATIO`` times that row's distance to its nearest other row.

    One approximate search per distinct matched row bounds its spacing from
    both sides; a match the bounds do not settle is decided on the exact
    spacing, searched only as far as needed (10 x its farthest match, then
    100 x: beyond that both ratios hold).
    """
    if len(Z) < 2:  # a single distinct training row has no spacing: nothing is within it
        return [np.zeros(len(dist), dtype=bool)] * 2
    rows, which = np.unique(nearest, return_inverse=True)
    upper = tree.query(Z[rows], k=2, eps=_APPROX, workers=_QUERY_THREADS)[0][:, 1][which.ravel()]
    lower = upper / (1 + _APPROX)
    verdicts, unsettled = [], []
    for ratio in (COPY_RATIO, NEAR_RATIO):
        surely = ratio * lower >= dist * (1 + 1e-9)
        verdicts.append(surely)
        unsettled.append(~surely & (ratio * upper >= dist * (1 - 1e-9)))
    open_ = unsettled[0] | unsettled[1]
    if open_.any():
        rows, which = np.unique(nearest[open_], return_inverse=True)
        which = which.ravel()
        farthest = np.zeros(len(rows))
        np.maximum.at(farthest, which, dist[open_])
        spacing = _local_spacing(tree, Z, rows, farthest / NEAR_RATIO)
        # no row within 10 x: a near copy; as far as 100 x only where "copy" is still open
        far = np.isinf(spacing) & (np.bincount(which, weights=unsettled[0][open_], minlength=len(rows)) > 0)
        spacing[far] = _local_spacing(tree, Z, rows[far], farthest[far] / COPY_RATIO)
        local = np.full(len(dist), np.nan)
        local[open_] = spacing[which]
        for verdict, ratio, settle in zip(verdicts, (COPY_RATIO, NEAR_RATIO), unsettled):
            verdict[settle] = dist[settle] <= ratio * local[settle]
    return verdicts


#: Training rows every row's spacing is first bounded by (its nearest other one among them).
_LONE_REFERENCE_ROWS = 256


def _lone_rows(Z, reach):
    """``(index, spacing)`` of the rows of ``Z`` (distinct) whose spacing exceeds ``reach``.

    Each row's distance to its nearest other row among :data:`_LONE_REFERENCE_ROWS`
    sampled ones (blocked matrix products: no tree search, which degenerates in many
    dimensions) bounds its spacing from above and clears most rows; the rest are measured
    exactly (:func:`_second_nearest`).
    """
    reference = np.sort(_data_rng(Z).choice(len(Z), min(len(Z), _LONE_REFERENCE_ROWS), replace=False))
    position = np.full(len(Z), -1)
    position[reference] = np.arange(len(reference))
    R = Z[reference]
    rr = np.einsum("ij,ij->i", R, R)
    upper = np.empty(len(Z))
    for start in range(0, len(Z), _BLOCK_ROWS):
        block = Z[start:start + _BLOCK_ROWS]
        d2 = block @ R.T
        d2 *= -2.0
        d2 += rr
        d2 += np.einsum("ij,ij->i", block, block)[:, None]
        own = position[start:start + len(block)]
        d2[np.flatnonzero(own >= 0), own[own >= 0]] = np.inf  # a reference row is not its own neighbour
        upper[start:start + len(block)] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    maybe = np.flatnonzero(upper > reach * (1 - 1e-6))  # a margin for the products' rounding
    parts = np.array_split(maybe, -(-len(maybe) // 512)) if len(maybe) else []  # bounded product blocks
    spacing = np.concatenate([_second_nearest(Z, Z[part]) for part in parts]) if parts else np.empty(0)
    lone = spacing > reach
    return maybe[lone], spacing[lone]


def _isolated_matches(tree, Z, rows, reach, dist, nearest):
    """Complete the bounded search for output rows near *isolated* training rows (in place).

    The search above looks only as far as the widest *sampled* spacing allows;
    a training row whose own spacing exceeds ``reach`` (none of its neighbours
    within it: a heavy tail's lone row, never sampled) can still have near
    copies beyond that bound. Only such rows can (an output row within
    ``NEAR_RATIO`` x a row's spacing has that row as its nearest), so the output
    rows left unmatched are searched among them, and a match within
    ``NEAR_RATIO`` x its exact spacing is recorded for the ratio tests.
    """
    unmatched = np.flatnonzero(~np.isfinite(dist))
    if not len(unmatched) or len(Z) < 2:
        return
    lone, spacing = _lone_rows(Z, reach)
    if not len(lone):
        return
    near_lone, which = cKDTree(Z[lone]).query(rows[unmatched], k=1, workers=_QUERY_THREADS)
    hit = near_lone <= NEAR_RATIO * spacing[which] * (1 + 1e-9)
    dist[unmatched[hit]], nearest[unmatched[hit]] = near_lone[hit], lone[which[hit]]


def measure(X_train, out, seed=None):
    """The :class:`Novelty` of ALL synthesized rows ``out`` against ``X_train``.

    ``seed`` is accepted for compatibility and ignored: nothing here depends on a
    value the program could know.
    """
    Z, S = _standardize(as_classifier_sees(X_train), as_classifier_sees(out))
    Z, S = Z + 0.0, S + 0.0  # a centred column may hold -0.0
    if len(S) == 0 or len(Z) == 0:
        return Novelty(0.0, 0.0, 0.0, 0.0, 0)
    Z = np.unique(Z, axis=0)
    tree = cKDTree(Z)
    gaps = _second_nearest(Z, _sample(Z, MAX_REFERENCE_ROWS, _data_rng(Z))) if len(Z) > 1 else np.zeros(1)
    gap = float(np.median(gaps))
    # Rows farther than the widest sampled spacing allows are no copies; the bound
    # keeps the search cheap in many dimensions.
    bound = max(NEAR_RATIO * float(gaps.max()) * 1.5, 1e-150)  # squared > 0: exact copies count
    first, inverse = _row_groups(S)
    distinct = S[first]
    counts = np.bincount(inverse, minlength=len(first))
    # byte-equal to a training row: an exact copy, no search needed
    dist, nearest = np.full(len(distinct), np.inf), _lookup(Z, distinct)
    dist[nearest >= 0] = 0.0
    rest = np.flatnonzero(nearest < 0)
    if len(rest):
        dist[rest], nearest[rest] = tree.query(distinct[rest], k=1, distance_upper_bound=bound, workers=_QUERY_THREADS)
    _isolated_matches(tree, Z, distinct, bound / NEAR_RATIO, dist, nearest)
    exact = int(counts[dist == 0].sum())  # exact copies: within any ratio of the (positive) local spacing
    found = np.isfinite(dist) & (dist > 0)
    shares = [exact, exact]
    if found.any():
        for k, within in enumerate(_within_spacing(tree, Z, nearest[found], dist[found])):
            shares[k] += int(counts[found][within].sum())
    repeats = 0.0
    if len(S) > 1:
        limit = REPEAT_RATIO * gap
        repeated = counts > 1  # identical rows repeat each other at distance 0
        if len(distinct) > 1:
            own, _ = cKDTree(distinct).query(distinct, k=2, distance_upper_bound=max(limit * (1 + 1e-9), 1e-150))
            repeated |= own[:, 1] <= limit
        repeats = float(counts[repeated].sum() / len(S))
    return Novelty(shares[0] / len(S), shares[1] / len(S), repeats, gap, len(S))


@dataclass(frozen=True)
class UnseenCopies:
    """Shares of synthesized rows that copy (``COPY_RATIO``) or near-copy (``NEAR_RATIO``) a
    training row coordinate by coordinate (:func:`unseen_copies`)."""

    copy_fraction: float
    near_fraction: float
    checked_rows: int

    def problems(self):
        """One line per share over its limit (the limits of :class:`Novelty`)."""
        limits = ((self.copy_fraction, MAX_COPY_FRACTION, "copy training rows"),
                  (self.near_fraction, MAX_NEAR_FRACTION,
                   f"lie within {NEAR_RATIO} x their columns' value spacing of training rows"))
        return [f"{share:.0%} of {self.checked_rows} synthesized rows {what} the program was not given "
                f"(limit {limit:.0%})" for share, limit, what in limits if share > limit]


def unseen_copies(X_all, out):
    """:class:`UnseenCopies` of ``out`` against every row of ``X_all``, coordinate by coordinate.

    For training rows a program was never given (it saw a subsample): each
    output coordinate is snapped to the nearest value its column takes in
    ``X_all``; a row counts as a copy (near copy) when the snapped row is a
    row of ``X_all`` and every coordinate lies within :data:`COPY_RATIO`
    (:data:`NEAR_RATIO`) times the spacing of that column's values around it
    (exact copies, and copies jittered by less than the data's own
    resolution, as on integer or categorical columns). A column with one
    value has no spacing: only that value itself matches. Rows are compared
    as the classifier sees them (:func:`as_classifier_sees`). O(n d log n).
    """
    X, S = as_classifier_sees(X_all), as_classifier_sees(out)
    if len(S) == 0 or len(X) == 0:
        return UnseenCopies(0.0, 0.0, len(S))
    snapped = np.empty_like(S)
    offset = np.zeros(len(S))  # per row: the largest |coordinate - snapped| / spacing
    for j in range(X.shape[1]):
        values = np.unique(X[:, j])
        pos = np.searchsorted(values, S[:, j])
        lo, hi = np.clip(pos - 1, 0, len(values) - 1), np.clip(pos, 0, len(values) - 1)
        pick = np.where(np.abs(S[:, j] - values[lo]) <= np.abs(values[hi] - S[:, j]), lo, hi)
        spacing = np.minimum(np.diff(values, prepend=-np.inf), np.diff(values, append=np.inf))[pick]
        snapped[:, j] = values[pick]
        gap = np.abs(S[:, j] - snapped[:, j])
        with np.errstate(divide="ignore", invalid="ignore"):  # one value: inf spacing, only 0 matches
            ratio = np.where(gap == 0, 0.0, gap / np.where(np.isinf(spacing), 0.0, spacing))
        np.maximum(offset, ratio, out=offset)
    near = offset <= NEAR_RATIO
    found = np.zeros(len(S), dtype=bool)
    if near.any():
        found[near] = _lookup(X, snapped[near]) >= 0
    return UnseenCopies(float((found & (offset <= COPY_RATIO)).mean()), float(found.mean()), len(S))
