"""Chunked, multi-threaded k-means kernels for initialization.

Two families, both over the fixed row partition of ``_partition.pxd`` (blocks of
``CHUNK_SIZE``-row chunks; each block's rows are processed in order by one thread,
block results are combined in block order), so every result is bit-identical for
any ``n_threads``. Blocks are handed to threads dynamically (which thread runs a
block cannot change its result), so a thread delayed by another process on a
shared machine does not hold up the pass.

* k-means++ seeding: ``seed_pass`` (one pass per seed: add the pending seed to
  every row's nearest-seed state, then sum per block the potential each candidate
  would leave), ``potential_blocks`` and ``pick_by_potential`` (rows drawn with
  probability proportional to their potential: ordered block sums, then a scan of
  one block, so the pick depends only on the random numbers and the data).
* ``lloyd_step``: assign every row to its nearest centre and accumulate the
  weighted centre sums, counts and the inertia in the same pass.

Seeding computes the distance of every row to every candidate (vectorized over the
rows of a chunk). Lloyd steps prune in the manner of Hamerly's k-means: every row
keeps its label and a lower bound ``lower`` on its distance to the second-nearest
centre, and keeps its label without looking at the other centres when
``u <= max(s_a, lower)`` (``u``: exact distance to its centre ``a``, recomputed in
every step so that the inertia is exact; ``s_a``: half the distance from ``c_a`` to
the nearest other centre). Seeding leaves exact nearest-seed labels and
second-nearest distances behind, so the first Lloyd step rarely has to search.

Inside a chunk the rows are transposed into a per-thread ``(n_features, chunk)``
buffer so that the inner loops run over rows with unit stride and vectorize; the
distance loops live in ``_kmeans_simd.h`` (compiled for AVX-512, AVX2 and plain
x86-64, picked at load time, identical results). Distances are computed directly
as ``sum_j (x_j - c_j)^2`` in double precision (no ``|x|^2 - 2 x.c + |c|^2``
expansion), so data far from the origin lose nothing. Optional per-feature
``scale`` factors cluster ``X * scale`` (standardized k-means) without a copy.

Lloyd statistics layout (a flat float64 vector, ``lloyd_statistics_length``)::

    [0]                  inertia  sum_n w_n |x_n - c_{label_n}|^2  (exact steps)
    [1]                  number of rows whose label changed in this step
    [2, 2+K)             weighted counts  sum_{n in k} w_n
    [2+K, 2+K+K*d)       weighted sums    sum_{n in k} w_n x_n          (K, d)
    [2+K+K*d, 2+2K+K*d)  members: rows with positive weight in cluster k

An exact step gives these for the whole assignment; a bounded (Hamerly) step
gives their changes (rows leaving and joining clusters), which the caller adds to
the totals of the previous step, so that settled rows cost no pass over their
features.
"""

from cython cimport floating
from cpython.exc cimport PyErr_CheckSignals
from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, sqrt
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

from ._partition cimport (CHUNK_SIZE, block_first_chunk, block_first_row, lane_dot,
                         lane_sum, n_chunks_of, ordered_block_sum, partition_blocks,
                         useful_threads)

cdef extern from "_kmeans_simd.h" nogil:
    void fgmm_sq_distances(const double* xt, Py_ssize_t stride, Py_ssize_t m, Py_ssize_t d,
                           const double* centers, Py_ssize_t n_centers,
                           double* out) noexcept
    void fgmm_nearest_two(const double* xt, Py_ssize_t stride, Py_ssize_t m, Py_ssize_t d,
                          const double* centers, Py_ssize_t K, double* best,
                          double* second, Py_ssize_t* arg) noexcept
    void fgmm_add_seed(const double* dsq, Py_ssize_t m, Py_ssize_t index,
                       Py_ssize_t* labels, double* upper, double* lower) noexcept
    void fgmm_capped_potentials(const double* upper, const double* wts, Py_ssize_t stride,
                                Py_ssize_t m, Py_ssize_t n_candidates,
                                double* dist) noexcept
    enum: FGMM_KM_SUM_CLUSTERS
    void fgmm_cluster_sums(const double* xt, Py_ssize_t stride, Py_ssize_t m, Py_ssize_t d,
                           const Py_ssize_t* labels, const double* wts, Py_ssize_t K,
                           double* counts, double* sums, double* members) noexcept

# A row keeps its label without computing all distances when u <= bound * (1 - margin):
# the margin absorbs the rounding of the bound updates, so pruning never changes an
# assignment that exact arithmetic would change (beyond ties at that precision).
cdef double BOUND_MARGIN = 1e-10

# Exact steps without per-row bounds (narrow rows) search every centre for every row
# up to this many centres (vectorized, a few multiply-adds a row); beyond, the
# half-separation test first settles the rows near their centres.
cdef Py_ssize_t SEARCH_ALL_MAX_CLUSTERS = 16


cdef inline Py_ssize_t _lloyd_length(Py_ssize_t n_clusters,
                                     Py_ssize_t n_features) noexcept nogil:
    return 2 + 2 * n_clusters + n_clusters * n_features


def lloyd_statistics_length(Py_ssize_t n_clusters, Py_ssize_t n_features):
    """Length of the Lloyd statistics vector (see the module docstring)."""
    return _lloyd_length(n_clusters, n_features)


def n_blocks(Py_ssize_t n_samples, Py_ssize_t n_clusters, Py_ssize_t n_features):
    """Number of row blocks of the fixed partition for a k-means problem.

    Depends only on the problem's shape, never on the thread count. Every k-means
    kernel takes its block count from the first dimension of its block buffer;
    callers size those buffers with this function.
    """
    # The per-block buffers are Lloyd statistics vectors (the largest of the kernels').
    return partition_blocks(n_samples, _lloyd_length(n_clusters, n_features))


# --------------------------------------------------------------------------------
# Per-thread scratch and small helpers (inner loops over the rows of a chunk)
# --------------------------------------------------------------------------------

cdef struct Scratch:
    double* xt        # (d, CHUNK): the chunk, transposed
    double* xc        # (d, CHUNK): rows that need the all-centres search, transposed
    double* dsq       # (CHUNK,): squared distances
    double* acc       # (CHUNK,)
    double* best      # (CHUNK,)
    double* second    # (CHUNK,)
    double* wts       # (CHUNK,): row weights
    double* cand      # (T, CHUNK): squared distances to the seeding candidates
    Py_ssize_t* rows  # (CHUNK,): chunk positions of the rows in xc
    Py_ssize_t* arg   # (CHUNK,)


cdef inline Scratch _make_scratch(double* dbuf, Py_ssize_t* ibuf,
                                  Py_ssize_t d) noexcept nogil:
    """Carve one thread's buffers: (2 d + 5 + T) * CHUNK doubles, 2 * CHUNK indices."""
    cdef Scratch s
    s.xt = dbuf
    s.xc = dbuf + d * CHUNK_SIZE
    s.dsq = dbuf + 2 * d * CHUNK_SIZE
    s.acc = s.dsq + CHUNK_SIZE
    s.best = s.acc + CHUNK_SIZE
    s.second = s.best + CHUNK_SIZE
    s.wts = s.second + CHUNK_SIZE
    s.cand = s.wts + CHUNK_SIZE
    s.rows = ibuf
    s.arg = ibuf + CHUNK_SIZE
    return s


cdef inline void _load_chunk(const floating* X, const double* sample_weight,
                             const double* scale, Py_ssize_t r0, Py_ssize_t m,
                             Py_ssize_t d, Scratch* s) noexcept nogil:
    """Transpose rows [r0, r0 + m) into s.xt as double, each feature multiplied by
    scale[j] (when given), and their weights into s.wts."""
    cdef Py_ssize_t i, j
    cdef const floating* row
    for i in range(m):
        row = X + (r0 + i) * d
        for j in range(d):
            s.xt[j * CHUNK_SIZE + i] = row[j]
    if scale != NULL:
        for j in range(d):
            for i in range(m):
                s.xt[j * CHUNK_SIZE + i] *= scale[j]
    for i in range(m):
        s.wts[i] = 1.0 if sample_weight == NULL else sample_weight[r0 + i]


cdef inline double _row_potential(const double* sample_weight, const double* upper,
                                  Py_ssize_t r) noexcept nogil:
    """w_r * u_r^2 (u: distance to the nearest seed), or w_r when there is no seed."""
    cdef double w = 1.0 if sample_weight == NULL else sample_weight[r]
    if upper == NULL:
        return w
    return w * (upper[r] * upper[r])


cdef inline const double* _optional(const double[::1] values, Py_ssize_t n, str name,
                                    str length, str empty) except? NULL:
    """Pointer to an optional per-row or per-feature vector (NULL when empty)."""
    if values.shape[0] == 0:
        return NULL
    if values.shape[0] != n:
        raise ValueError(f"{name} must have length {length}={n} or 0 ({empty}), got "
                         f"{values.shape[0]}")
    return &values[0]


cdef inline const double* _weights_ptr(const double[::1] sample_weight,
                                       Py_ssize_t n) except? NULL:
    return _optional(sample_weight, n, "sample_weight", "n_samples", "unit weights")


cdef inline const double* _scale_ptr(const double[::1] scale, Py_ssize_t d) except? NULL:
    return _optional(scale, d, "scale", "n_features", "no scaling")


cdef void _check_blocks(Py_ssize_t n_samples, Py_ssize_t n_blocks_, str name) except *:
    if n_samples > 0 and n_blocks_ < 1:
        raise ValueError(f"{name} must have at least one row (block) for {n_samples} "
                         "samples; size it with n_blocks(n_samples, K, n_features)")


# --------------------------------------------------------------------------------
# k-means++ seeding
# --------------------------------------------------------------------------------

cdef struct SeedProblem:
    Py_ssize_t n_features
    const double* sample_weight     # (n,) or NULL
    const double* scale             # (d,) or NULL: feature scale factors
    const double* pending           # (d,) or NULL: the seed to add first
    Py_ssize_t pending_index        # its index
    const double* candidates        # (T, d)
    Py_ssize_t n_candidates         # T (0: sum the potential itself)
    Py_ssize_t* labels              # (n,)
    double* upper                   # (n,)
    double* lower                   # (n,)


cdef inline double _capped_potential(double weight, double u, double dsq) noexcept nogil:
    """w * min(u^2, d^2): a row's potential once a seed at squared distance d^2 is
    added (as fgmm_capped_potentials computes it)."""
    cdef double usq = u * u
    return weight * (dsq if dsq < usq else usq)


cdef void _seed_chunk(const SeedProblem* p, const floating* X, Scratch* s, Py_ssize_t r0,
                      Py_ssize_t m, double* potentials) noexcept nogil:
    """One chunk of a seeding pass; potentials[t] accumulates, rows in order."""
    cdef Py_ssize_t i, t, r
    cdef Py_ssize_t T = p.n_candidates
    _load_chunk(X, p.sample_weight, p.scale, r0, m, p.n_features, s)
    if p.pending != NULL:
        fgmm_sq_distances(s.xt, CHUNK_SIZE, m, p.n_features, p.pending, 1, s.acc)
        if p.pending_index == 0:
            for i in range(m):
                r = r0 + i
                p.labels[r] = 0
                p.upper[r] = sqrt(s.acc[i])
                p.lower[r] = INFINITY
        else:
            fgmm_add_seed(s.acc, m, p.pending_index, p.labels + r0, p.upper + r0,
                          p.lower + r0)
    if T == 0:
        for i in range(m):
            s.acc[i] = _row_potential(p.sample_weight, p.upper, r0 + i)
        potentials[0] += lane_sum(s.acc, m)
        return
    fgmm_sq_distances(s.xt, CHUNK_SIZE, m, p.n_features, p.candidates, T, s.cand)
    fgmm_capped_potentials(p.upper + r0, s.wts, CHUNK_SIZE, m, T, s.cand)
    for t in range(T):
        potentials[t] += lane_sum(s.cand + t * CHUNK_SIZE, m)


def seed_pass(
    const floating[:, ::1] X,                 # IN (n_samples, n_features)
    const double[::1] sample_weight,          # IN (n_samples,) or (0,): unit weights
    const double[::1] scale,                  # IN (n_features,) or (0,): no scaling
    const double[::1] pending,                # IN (n_features,) or (0,): seed to add
    Py_ssize_t pending_index,                 # IN its index (0 for the first seed)
    const double[:, ::1] candidates,          # IN (n_candidates, n_features), may be (0, d)
    Py_ssize_t[::1] labels,                   # INOUT (n_samples,): nearest seed
    double[::1] upper,                        # INOUT (n_samples,): distance to it
    double[::1] lower,                        # INOUT (n_samples,): 2nd-nearest distance
    double[:, ::1] block_potentials,          # OUT (n_blocks, max(n_candidates, 1))
    int n_threads,                            # IN
):
    """One pass of k-means++: add the pending seed, then evaluate the candidates.

    Adding a seed updates every row's nearest seed (``labels``, first on ties), the
    distance to it (``upper``) and the distance to the second-nearest seed
    (``lower``, ``inf`` while there is one seed). Then, for every candidate ``t``,
    the potential the rows would have if it were added,
    ``sum_r w_r min(upper_r^2, |x_r - candidates[t]|^2)``, is summed per block
    (chunks in order, each with ``lane_sum``); without candidates, the current
    potential ``sum_r w_r upper_r^2``. Adding the chosen candidate is left to the next pass
    (as its ``pending`` seed), so that every seed costs one pass over X.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n_samples,) or (0,) for unit weights
    scale : ndarray of shape (n_features,) or (0,)
        Feature scale factors: distances are those of ``X * scale`` (the seeds and
        candidates are in those coordinates). Empty: no scaling.
    pending : ndarray of shape (n_features,) or (0,)
        The seed to add before evaluating the candidates (none if empty).
    pending_index : int
        Its index; 0 (re)initializes the row state.
    candidates : ndarray of shape (n_candidates, n_features)
    labels, upper, lower : ndarray of shape (n_samples,)
        Row state (see above).
    block_potentials : ndarray of shape (n_blocks, max(n_candidates, 1))
        Output: per-block potentials (see above).
    n_threads : int
    """
    cdef SeedProblem p
    memset(&p, 0, sizeof(SeedProblem))
    cdef Py_ssize_t n = X.shape[0]
    cdef Py_ssize_t T = candidates.shape[0]
    cdef Py_ssize_t nb = block_potentials.shape[0]
    p.n_features = X.shape[1]
    p.sample_weight = _weights_ptr(sample_weight, n)
    p.scale = _scale_ptr(scale, p.n_features)
    p.n_candidates = T
    if labels.shape[0] != n or lower.shape[0] != n or upper.shape[0] != n:
        raise ValueError(f"labels, upper and lower must have length n_samples={n}")
    if pending.shape[0] not in (0, p.n_features) or (
            T > 0 and candidates.shape[1] != p.n_features):
        raise ValueError(f"pending must have length n_features={p.n_features} or 0, and "
                         f"candidates {p.n_features} columns")
    if pending.shape[0] > 0 and pending_index < 0:
        raise ValueError(f"pending_index must be >= 0, got {pending_index}")
    if nb > 0 and block_potentials.shape[1] != max(T, 1):
        raise ValueError(f"block_potentials must have {max(T, 1)} columns, got "
                         f"{block_potentials.shape[1]}")
    _check_blocks(n, nb, "block_potentials")
    if n == 0:
        return
    if pending.shape[0] > 0:
        p.pending = &pending[0]
        p.pending_index = pending_index
    if T > 0:
        p.candidates = &candidates[0, 0]
    p.labels = &labels[0]
    p.upper = &upper[0]
    p.lower = &lower[0]
    cdef int status
    cdef const floating* Xp = &X[0, 0]
    with nogil:
        status = _run_blocks(PASS_SEED, &p, Xp, n, p.n_features, max(T, 1),
                             &block_potentials[0, 0], max(T, 1), nb, n_threads,
                             (T + 1) * p.n_features + 16)
    if status != 0:
        raise MemoryError("could not allocate per-thread scratch buffers")


def potential_blocks(
    Py_ssize_t n_samples,                     # IN
    const double[::1] sample_weight,          # IN (n_samples,) or (0,)
    double[::1] block_potential,              # OUT (n_blocks,)
    int n_threads,                            # IN
):
    """Per-block sums of the row weights (the potential before any seed), rows in
    order. Returns the total (blocks in order)."""
    cdef const double* w = _weights_ptr(sample_weight, n_samples)
    cdef Py_ssize_t nb = block_potential.shape[0]
    cdef Py_ssize_t b, r
    cdef double acc, total = 0.0
    _check_blocks(n_samples, nb, "block_potential")
    if n_samples == 0:
        return 0.0
    cdef double* bp = &block_potential[0]
    cdef int threads = useful_threads(n_threads, nb, n_samples)
    with nogil:
        for b in prange(nb, schedule='dynamic', num_threads=threads):
            acc = 0.0
            for r in range(block_first_row(b, n_samples, nb),
                           block_first_row(b + 1, n_samples, nb)):
                acc = acc + _row_potential(w, NULL, r)
            bp[b] = acc
        for b in range(nb):
            total = total + bp[b]
    return total


cdef inline double _scan_potential(const floating* X, const double* w, const double* scale,
                                   const double* upper, const double* pending,
                                   Py_ssize_t d, Py_ssize_t r) noexcept nogil:
    """Row r's potential exactly as the pass that summed it computed it."""
    cdef Py_ssize_t j
    cdef double x, v, dsq = 0.0
    if upper == NULL or pending == NULL:
        return _row_potential(w, upper, r)
    for j in range(d):
        x = X[r * d + j]
        if scale != NULL:
            x = x * scale[j]
        v = x - pending[j]
        dsq = dsq + v * v
    return _capped_potential(1.0 if w == NULL else w[r], upper[r], dsq)


def pick_by_potential(
    const floating[:, ::1] X,                 # IN (n_samples, n_features)
    const double[::1] sample_weight,          # IN (n_samples,) or (0,)
    const double[::1] scale,                  # IN (n_features,) or (0,)
    const double[::1] upper,                  # IN (n_samples,) or (0,): no seed yet
    const double[::1] pending,                # IN (n_features,) or (0,)
    const double[::1] block_potential,        # IN (n_blocks,)
    const double[::1] targets,                # IN (n_picks,): in [0, total potential)
    Py_ssize_t[::1] out,                      # OUT (n_picks,): row indices
):
    """Rows drawn with probability proportional to their potential.

    A row's potential is its weight (no ``upper``), ``w upper^2``, or, with a
    ``pending`` seed, ``w min(upper^2, |x * scale - pending|^2)``; ``block_potential``
    must hold the per-block sums of exactly that (from ``seed_pass`` or
    ``potential_blocks``). For each target ``t`` (a uniform number times the total)
    the chosen row is the first whose cumulative potential exceeds ``t``: the block
    is found from the block sums (in block order), then its rows are scanned in
    order. The scan's running sum can differ from the block sum in the last bits; a
    target beyond the block's scanned total picks the block's last row with
    positive potential, so a row with zero potential (zero weight, or on a seed) is
    never chosen. The result depends only on the targets and the data, never on
    threads.

    Raises
    ------
    ValueError
        If no row has a positive potential.
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1]
    cdef const double* w = _weights_ptr(sample_weight, n_samples)
    cdef const double* sc = _scale_ptr(scale, d)
    cdef const double* up = NULL
    cdef const double* pend = NULL
    cdef Py_ssize_t nb = block_potential.shape[0]
    cdef Py_ssize_t q, chosen
    if upper.shape[0] not in (0, n_samples) or pending.shape[0] not in (0, d):
        raise ValueError(f"upper must have length n_samples={n_samples} or 0, pending "
                         f"n_features={d} or 0")
    if out.shape[0] != targets.shape[0]:
        raise ValueError("out must have the length of targets")
    _check_blocks(n_samples, nb, "block_potential")
    if upper.shape[0] > 0:
        up = &upper[0]
    if pending.shape[0] > 0:
        pend = &pending[0]
    cdef const floating* Xp = &X[0, 0] if n_samples > 0 else NULL
    cdef const double* bp = &block_potential[0] if nb > 0 else NULL
    for q in range(targets.shape[0]):
        chosen = _pick_row(Xp, w, sc, up, pend, n_samples, d, bp, nb, targets[q])
        if chosen < 0:
            raise ValueError("no row has a positive potential; nothing can be drawn")
        out[q] = chosen


cdef Py_ssize_t _pick_row(const floating* X, const double* w, const double* scale,
                          const double* upper, const double* pending, Py_ssize_t n_samples,
                          Py_ssize_t d, const double* block_potential, Py_ssize_t nb,
                          double target) noexcept nogil:
    """The row of ``pick_by_potential`` for one target; -1 when no block has a
    positive potential."""
    cdef Py_ssize_t b, r, start, stop, chosen_block = -1, chosen = -1, last_positive = -1
    cdef double acc = 0.0, pot
    cdef bint found = False
    for b in range(nb):
        if block_potential[b] > 0.0:
            chosen_block = b
            if acc + block_potential[b] > target:
                found = True
                break
            acc = acc + block_potential[b]
    if chosen_block < 0:
        return -1
    if not found:          # target at the very end (rounding): the last block
        acc = acc - block_potential[chosen_block]
    target = target - acc
    start = block_first_row(chosen_block, n_samples, nb)
    stop = block_first_row(chosen_block + 1, n_samples, nb)
    acc = 0.0
    for r in range(start, stop):
        pot = _scan_potential(X, w, scale, upper, pending, d, r)
        if pot > 0.0:
            last_positive = r
        acc = acc + pot
        if acc > target:
            chosen = r
            break
    return chosen if chosen >= 0 else last_positive


cdef inline void _scaled_row(const floating* X, const double* scale, Py_ssize_t d,
                             Py_ssize_t r, double* out) noexcept nogil:
    """out = X[r] * scale (in double precision; no scaling when scale is NULL)."""
    cdef Py_ssize_t j
    for j in range(d):
        out[j] = X[r * d + j]
        if scale != NULL:
            out[j] = out[j] * scale[j]


cdef inline double _ordered_total(const double* values, Py_ssize_t n,
                                  Py_ssize_t stride) noexcept nogil:
    """values[0] + values[stride] + ... (n terms, in order)."""
    cdef Py_ssize_t b
    cdef double total = 0.0
    for b in range(n):
        total = total + values[b * stride]
    return total


cdef enum:
    NO_POSITIVE_WEIGHT = -2     # _draw_rows: nothing can be drawn (-1: no scratch)


cdef int _draw_rows(const floating* X, const double* w, const double* scale,
                    const double* upper, const double* pending, Py_ssize_t n,
                    Py_ssize_t d, const double* block_potential,
                    const double* weight_blocks, Py_ssize_t nb, const double* uniforms,
                    Py_ssize_t n_draws, Py_ssize_t* out) noexcept nogil:
    """Rows drawn with probability proportional to the potential (``uniforms`` in
    [0, 1) times its total), or to the weight (``weight_blocks``) once the potential
    is 0 everywhere. Returns 0, or NO_POSITIVE_WEIGHT when no row has a positive
    weight either."""
    cdef Py_ssize_t q
    cdef double total = _ordered_total(block_potential, nb, 1)
    if total <= 0.0:     # every row with weight lies on a seed: only duplicates left
        upper = pending = NULL
        block_potential = weight_blocks
        total = _ordered_total(block_potential, nb, 1)
    for q in range(n_draws):
        out[q] = _pick_row(X, w, scale, upper, pending, n, d, block_potential, nb,
                           uniforms[q] * total)
        if out[q] < 0:
            return NO_POSITIVE_WEIGHT
    return 0


cdef int _seed_pass_blocks(SeedProblem* p, const floating* X, Py_ssize_t n,
                           const double* pending, Py_ssize_t pending_index,
                           const double* candidates, Py_ssize_t n_candidates,
                           double* block_out, Py_ssize_t nb, int n_threads) noexcept nogil:
    """``seed_pass`` on the prepared problem ``p`` (row state already set)."""
    cdef Py_ssize_t width = n_candidates if n_candidates > 1 else 1
    p.pending = pending
    p.pending_index = pending_index
    p.candidates = candidates
    p.n_candidates = n_candidates
    return _run_blocks(PASS_SEED, p, X, n, p.n_features, width, block_out, width, nb,
                       n_threads, (n_candidates + 1) * p.n_features + 16)


def plusplus_seeds(
    const floating[:, ::1] X,                 # IN (n_samples, n_features)
    const double[::1] sample_weight,          # IN (n_samples,) or (0,): unit weights
    const double[::1] scale,                  # IN (n_features,) or (0,): no scaling
    const double[::1] uniforms,               # IN (1 + (n_clusters - 1) * n_trials,)
    Py_ssize_t[::1] indices,                  # OUT (n_clusters,): rows of the seeds
    Py_ssize_t[::1] labels,                   # OUT (n_samples,): nearest seed
    double[::1] upper,                        # OUT (n_samples,): distance to it
    double[::1] lower,                        # OUT (n_samples,): 2nd-nearest distance
    double[::1] weight_blocks,                # OUT workspace (n_blocks,)
    double[::1] current_blocks,               # OUT workspace (n_blocks,)
    double[:, ::1] candidate_blocks,          # OUT workspace (n_blocks, n_trials)
    int n_threads,                            # IN
):
    """Greedy k-means++ seeding in one call: one ``seed_pass`` per seed.

    The first seed is drawn with probability proportional to the row weights
    (``uniforms[0]``); every next one is the best, by the potential it would leave,
    of ``n_trials`` candidates drawn with probability proportional to the current
    potential (the next ``n_trials`` uniforms). Each draw scales its uniforms by the
    ordered sum of the block potentials and picks as ``pick_by_potential``; when
    every row with weight already lies on a seed (potential 0) the draw is
    proportional to the weights instead. The seeds depend only on the uniforms and
    the data, never on ``n_threads``. A pending signal (Ctrl-C) raises between seeds.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n_samples,) or (0,) for unit weights
    scale : ndarray of shape (n_features,) or (0,)
        Seed in the coordinates ``X * scale`` (empty: those of X).
    uniforms : ndarray of shape (1 + (n_clusters - 1) * n_trials,)
        Uniform numbers in [0, 1), consumed in order.
    indices : ndarray of shape (n_clusters,)
        Output: the rows of X the seeds are.
    labels, upper, lower : ndarray of shape (n_samples,)
        Output: every row's nearest seed, the distance to it and the distance to
        the second-nearest seed (``inf`` for one seed), all seeds added.
    weight_blocks, current_blocks : ndarray of shape (n_blocks,)
    candidate_blocks : ndarray of shape (n_blocks, n_trials)
        Workspace (per-block potentials, ``n_blocks`` from ``n_blocks``).
    n_threads : int

    Raises
    ------
    ValueError
        If no row has a positive weight, or a buffer has the wrong shape.
    """
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], K = indices.shape[0]
    cdef Py_ssize_t nb = candidate_blocks.shape[0], T = candidate_blocks.shape[1]
    cdef Py_ssize_t index, t, best, b
    cdef double value, best_value
    cdef int status = 0
    if K < 1 or n < 1:
        raise ValueError(f"k-means++ needs at least one row and one seed, got "
                         f"n_samples={n}, n_clusters={K}")
    if K > 1 and T < 1:
        raise ValueError("candidate_blocks needs at least one column (n_trials >= 1)")
    if uniforms.shape[0] != 1 + (K - 1) * T:
        raise ValueError(f"uniforms must hold 1 + (n_clusters - 1) * n_trials = "
                         f"{1 + (K - 1) * T} numbers, got {uniforms.shape[0]}")
    if labels.shape[0] != n or upper.shape[0] != n or lower.shape[0] != n:
        raise ValueError(f"labels, upper and lower must have length n_samples={n}")
    if weight_blocks.shape[0] != nb or current_blocks.shape[0] != nb:
        raise ValueError(f"weight_blocks and current_blocks must have length n_blocks={nb}")
    _check_blocks(n, nb, "candidate_blocks")
    cdef SeedProblem p
    memset(&p, 0, sizeof(SeedProblem))
    p.n_features = d
    p.sample_weight = _weights_ptr(sample_weight, n)
    p.scale = _scale_ptr(scale, d)
    p.labels = &labels[0]
    p.upper = &upper[0]
    p.lower = &lower[0]
    potential_blocks(n, sample_weight, weight_blocks, n_threads)
    cdef const floating* Xp = &X[0, 0]
    cdef const double* u = &uniforms[0]
    cdef double* wb = &weight_blocks[0]
    cdef double* cb = &current_blocks[0]
    cdef double* tb = &candidate_blocks[0, 0]
    cdef Py_ssize_t* picks = <Py_ssize_t*> malloc((T + 1) * sizeof(Py_ssize_t))
    cdef double* candidates = <double*> malloc((T + 1) * d * sizeof(double))
    cdef double* pending = <double*> malloc(d * sizeof(double))
    cdef double* column = <double*> malloc(nb * sizeof(double))
    if picks == NULL or candidates == NULL or pending == NULL or column == NULL:
        free(picks); free(candidates); free(pending); free(column)
        raise MemoryError("could not allocate the k-means++ buffers")
    try:
        with nogil:
            status = _draw_rows(Xp, p.sample_weight, p.scale, NULL, NULL, n, d, wb, wb, nb,
                                u, 1, &indices[0])
            if status == 0:
                _scaled_row(Xp, p.scale, d, indices[0], pending)
                status = _seed_pass_blocks(&p, Xp, n, pending, 0, NULL, 0, cb, nb,
                                           n_threads)
            if status == 0 and K > 1:
                status = _draw_rows(Xp, p.sample_weight, p.scale, p.upper, NULL, n, d, cb,
                                    wb, nb, u + 1, T, picks)
        for index in range(1, K):
            if status != 0:
                break
            PyErr_CheckSignals()
            with nogil:
                for t in range(T):
                    _scaled_row(Xp, p.scale, d, picks[t], candidates + t * d)
                status = _seed_pass_blocks(&p, Xp, n, pending if index > 1 else NULL,
                                           index - 1, candidates, T, tb, nb, n_threads)
                if status == 0:
                    best = 0           # the first of the lowest totals (blocks in order)
                    best_value = INFINITY
                    for t in range(T):
                        value = _ordered_total(tb + t, nb, T)
                        if value < best_value:
                            best, best_value = t, value
                    indices[index] = picks[best]
                    memcpy(pending, candidates + best * d, d * sizeof(double))
                    if index + 1 < K:
                        for b in range(nb):
                            column[b] = tb[b * T + best]
                        status = _draw_rows(Xp, p.sample_weight, p.scale, p.upper, pending,
                                            n, d, column, wb, nb, u + 1 + index * T, T,
                                            picks)
        if status == 0 and K > 1:   # the last seed is still pending: add it
            with nogil:
                status = _seed_pass_blocks(&p, Xp, n, pending, K - 1, NULL, 0, cb, nb,
                                           n_threads)
    finally:
        free(picks); free(candidates); free(pending); free(column)
    if status == NO_POSITIVE_WEIGHT:
        raise ValueError("no row has a positive weight; k-means++ has nothing to draw")
    if status != 0:
        raise MemoryError("could not allocate per-thread scratch buffers")


# --------------------------------------------------------------------------------
# Lloyd step
# --------------------------------------------------------------------------------

cdef struct LloydProblem:
    Py_ssize_t n_samples
    Py_ssize_t n_features
    Py_ssize_t n_clusters
    Py_ssize_t n_stats
    bint exact                      # full statistics (True) or label-change deltas
    const double* sample_weight     # (n,) or NULL
    const double* scale             # (d,) or NULL: feature scale factors
    const double* centers           # (K, d)
    const double* half_separation   # (K,): s_k = min_{j != k} |c_k - c_j| / 2
    const double* drift             # (K,): |c_k(new) - c_k(old)|
    const double* lower_drift       # (K,): max_{j != k} |c_j(new) - c_j(old)|
    Py_ssize_t* labels              # (n,) INOUT
    double* upper                   # (n,) INOUT: (bound on the) distance to the centre
    double* lower                   # (n,) INOUT


cdef inline double _bound(const LloydProblem* p, Py_ssize_t r, Py_ssize_t a) noexcept nogil:
    """Update row r's lower bound for the centres' moves; return the distance below
    which its centre a is certainly the nearest (with the rounding margin). Without
    per-row bounds (``lower`` NULL) only the half-separation test remains."""
    cdef double l = 0.0
    if p.lower != NULL:
        l = p.lower[r] - p.lower_drift[a]
        p.lower[r] = l
    return (p.half_separation[a] if p.half_separation[a] > l else l) * (1.0 - BOUND_MARGIN)


cdef inline void _search(const LloydProblem* p, Scratch* s, Py_ssize_t n_far) noexcept nogil:
    """All-centres search for the n_far rows gathered (transposed) in s.xc."""
    fgmm_nearest_two(s.xc, CHUNK_SIZE, n_far, p.n_features, p.centers, p.n_clusters,
                     s.best, s.second, s.arg)


cdef inline void _search_every_row(const LloydProblem* p, Scratch* s, Py_ssize_t r0,
                                   Py_ssize_t m, double* stats) noexcept nogil:
    """All-centres search for every row of the chunk (in s.xt): labels, s.dsq.

    Gives the labels and distances of the half-separation test followed by the
    search of the rows it cannot settle (a row that test settles is nearer its
    centre than any other by the rounding margin, so the search finds the same one,
    and the distance is computed alike), without a square root and an unpredictable
    branch per row. A row without a valid previous label counts as labelled 0.
    """
    cdef Py_ssize_t i, a, changed = 0
    cdef Py_ssize_t* labels = p.labels + r0
    fgmm_nearest_two(s.xt, CHUNK_SIZE, m, p.n_features, p.centers, p.n_clusters, s.dsq,
                     s.second, s.arg)
    for i in range(m):
        a = labels[i] if 0 <= labels[i] < p.n_clusters else 0
        changed += s.arg[i] != a
        labels[i] = s.arg[i]
    stats[1] += <double> changed


cdef void _lloyd_chunk_exact(const LloydProblem* p, const floating* X, Scratch* s,
                             Py_ssize_t r0, Py_ssize_t m, double* stats) noexcept nogil:
    """Exact distances of every row, statistics of the whole assignment."""
    cdef Py_ssize_t d = p.n_features, K = p.n_clusters
    cdef Py_ssize_t i, j, q, r, n_far = 0
    cdef const Py_ssize_t* labels = p.labels + r0
    cdef const double* xj
    cdef double t
    cdef double* counts = stats + 2
    cdef double* sums = stats + 2 + K
    cdef double* members = stats + 2 + K + K * d
    _load_chunk(X, p.sample_weight, p.scale, r0, m, d, s)
    if p.lower == NULL and K <= SEARCH_ALL_MAX_CLUSTERS:
        _search_every_row(p, s, r0, m, stats)
    else:
        for i in range(m):
            s.dsq[i] = 0.0
            if not 0 <= labels[i] < K:       # no valid previous label: search every centre
                p.labels[r0 + i] = 0
                if p.lower != NULL:
                    p.lower[r0 + i] = 0.0
        for j in range(d):
            xj = s.xt + j * CHUNK_SIZE
            for i in range(m):
                t = xj[i] - p.centers[labels[i] * d + j]
                s.dsq[i] += t * t
        for i in range(m):   # rows the bounds cannot settle go to the all-centres search
            s.rows[n_far] = i          # branch-free: kept only when the row is far
            n_far += sqrt(s.dsq[i]) > _bound(p, r0 + i, labels[i])
        if n_far > 0:
            for j in range(d):
                for q in range(n_far):
                    s.xc[j * CHUNK_SIZE + q] = s.xt[j * CHUNK_SIZE + s.rows[q]]
            _search(p, s, n_far)
            for q in range(n_far):
                i = s.rows[q]
                r = r0 + i
                if s.arg[q] != p.labels[r]:
                    stats[1] += 1.0
                    p.labels[r] = s.arg[q]
                s.dsq[i] = s.best[q]
                if p.lower != NULL:
                    p.lower[r] = sqrt(s.second[q])
    # Weighted inertia, counts, sums and members (rows in order for every entry).
    stats[0] += lane_dot(s.wts, s.dsq, m)
    if p.upper != NULL:
        for i in range(m):
            p.upper[r0 + i] = sqrt(s.dsq[i])
    if K <= FGMM_KM_SUM_CLUSTERS:        # the same additions, in registers
        fgmm_cluster_sums(s.xt, CHUNK_SIZE, m, d, labels, s.wts, K, counts, sums, members)
        return
    for i in range(m):
        counts[labels[i]] += s.wts[i]
        members[labels[i]] += 1.0 if s.wts[i] > 0.0 else 0.0
    for j in range(d):
        xj = s.xt + j * CHUNK_SIZE
        for i in range(m):
            sums[labels[i] * d + j] += s.wts[i] * xj[i]


cdef void _lloyd_chunk_bounded(const LloydProblem* p, const floating* X, Scratch* s,
                               Py_ssize_t r0, Py_ssize_t m, double* stats) noexcept nogil:
    """Hamerly's step: rows whose bounds settle them are not read at all; the
    statistics are the changes (out of the old cluster, into the new one)."""
    cdef Py_ssize_t d = p.n_features, K = p.n_clusters
    cdef Py_ssize_t i, j, q, r, a, b, n_far = 0
    cdef const floating* row
    cdef const double* c
    cdef double u, bound, v, dsq, w, x
    cdef double* counts = stats + 2
    cdef double* sums = stats + 2 + K
    cdef double* members = stats + 2 + K + K * d
    for i in range(m):
        r = r0 + i
        a = p.labels[r]
        u = p.upper[r] + p.drift[a]
        bound = _bound(p, r, a)
        if u > bound:                  # tighten the upper bound: the exact distance
            row = X + r * d
            c = p.centers + a * d
            dsq = 0.0
            for j in range(d):
                x = row[j] if p.scale == NULL else row[j] * p.scale[j]
                v = x - c[j]
                dsq = dsq + v * v
            u = sqrt(dsq)
            if u > bound:              # still unsettled: search all centres
                for j in range(d):
                    x = row[j] if p.scale == NULL else row[j] * p.scale[j]
                    s.xc[j * CHUNK_SIZE + n_far] = x
                s.rows[n_far] = i
                n_far += 1
        p.upper[r] = u
    if n_far == 0:
        return
    _search(p, s, n_far)
    for q in range(n_far):
        r = r0 + s.rows[q]
        a = p.labels[r]
        b = s.arg[q]
        p.upper[r] = sqrt(s.best[q])
        p.lower[r] = sqrt(s.second[q])
        if b != a:
            p.labels[r] = b
            stats[1] += 1.0
            w = 1.0 if p.sample_weight == NULL else p.sample_weight[r]
            counts[a] -= w
            counts[b] += w
            if w > 0.0:
                members[a] -= 1.0
                members[b] += 1.0
            for j in range(d):
                x = s.xc[j * CHUNK_SIZE + q]
                sums[a * d + j] -= w * x
                sums[b * d + j] += w * x


cdef void _lloyd_chunk(const LloydProblem* p, const floating* X, Scratch* s,
                       Py_ssize_t r0, Py_ssize_t m, double* stats) noexcept nogil:
    if p.exact:
        _lloyd_chunk_exact(p, X, s, r0, m, stats)
    else:
        _lloyd_chunk_bounded(p, X, s, r0, m, stats)


cdef enum:
    PASS_SEED = 0      # seed_pass: block_out[b, :width] = candidate potentials
    PASS_LLOYD = 1     # lloyd_step: block_out[b, :width] = Lloyd statistics


cdef int _run_blocks(int kind, const void* problem, const floating* X, Py_ssize_t n,
                     Py_ssize_t d, Py_ssize_t extra, double* block_out, Py_ssize_t width,
                     Py_ssize_t n_blocks_, int n_threads, Py_ssize_t row_work) noexcept nogil:
    """Run a pass over the fixed partition, chunks of a block in order, each block
    into its own ``width`` doubles of ``block_out``. Per-thread scratch has
    ``extra`` more chunk-rows of doubles. ``row_work`` (multiply-adds a row costs)
    caps the threads: a pass too small to repay waking one runs on fewer (the thread
    count never changes a result). Returns 0, or -1 when scratch is missing.
    """
    cdef Py_ssize_t n_chunks = n_chunks_of(n)
    cdef Py_ssize_t b, c, r0, m
    cdef int failed[1]
    cdef Scratch s
    cdef double* dbuf = NULL
    cdef Py_ssize_t* ibuf = NULL
    cdef double* mine = NULL
    failed[0] = 0
    n_threads = useful_threads(n_threads, n_blocks_, n * row_work)
    with parallel(num_threads=n_threads):
        dbuf = <double*> calloc((2 * d + 5 + extra) * CHUNK_SIZE, sizeof(double))
        ibuf = <Py_ssize_t*> calloc(2 * CHUNK_SIZE, sizeof(Py_ssize_t))
        if dbuf == NULL or ibuf == NULL:
            failed[0] = 1
        s = _make_scratch(dbuf, ibuf, d)     # whole-struct assignment: thread-private
        for b in prange(n_blocks_, schedule='dynamic'):
            if dbuf != NULL and ibuf != NULL:
                mine = block_out + b * width
                memset(mine, 0, width * sizeof(double))
                for c in range(block_first_chunk(b, n_chunks, n_blocks_),
                               block_first_chunk(b + 1, n_chunks, n_blocks_)):
                    r0 = c * CHUNK_SIZE
                    m = min(<Py_ssize_t> CHUNK_SIZE, n - r0)
                    if kind == PASS_SEED:
                        _seed_chunk(<const SeedProblem*> problem, X, &s, r0, m, mine)
                    else:
                        _lloyd_chunk(<const LloydProblem*> problem, X, &s, r0, m, mine)
        free(dbuf)
        free(ibuf)
    return -1 if failed[0] != 0 else 0


cdef void _half_separations(const double* centers, Py_ssize_t K, Py_ssize_t d,
                            double* out) noexcept nogil:
    """out[k] = min_{j != k} |c_k - c_j| / 2 (inf for one centre), each distance from
    its d squared differences summed in feature order."""
    cdef Py_ssize_t k, j, f
    cdef double v, dsq, nearest
    for k in range(K):
        nearest = INFINITY
        for j in range(K):
            if j != k:
                dsq = 0.0
                for f in range(d):
                    v = centers[k * d + f] - centers[j * d + f]
                    dsq = dsq + v * v
                if dsq < nearest:
                    nearest = dsq
        out[k] = 0.5 * sqrt(nearest)


def lloyd_step(
    const floating[:, ::1] X,                 # IN (n_samples, n_features)
    const double[::1] sample_weight,          # IN (n_samples,) or (0,)
    const double[::1] scale,                  # IN (n_features,) or (0,): no scaling
    const double[:, ::1] centers,             # IN (K, n_features)
    const double[::1] half_separation,        # IN (K,)
    const double[::1] drift,                  # IN (K,)
    const double[::1] lower_drift,            # IN (K,)
    bint exact,                               # IN
    Py_ssize_t[::1] labels,                   # INOUT (n_samples,), values in [0, K)
    double[::1] upper,                        # INOUT (n_samples,) or (0,)
    double[::1] lower,                        # INOUT (n_samples,) or (0,)
    double[:, ::1] block_stats,               # OUT workspace (n_blocks, n_stats)
    double[::1] stats,                        # OUT (n_stats,)
    int n_threads,                            # IN
):
    """One Lloyd assignment: nearest centre of every row and the cluster statistics.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n_samples,) or (0,) for unit weights
    scale : ndarray of shape (n_features,) or (0,)
        Feature scale factors: the step clusters ``X * scale`` (the centres and the
        sums are in those coordinates). Empty: no scaling.
    centers : ndarray of shape (n_clusters, n_features)
    half_separation : ndarray of shape (n_clusters,) or (0,)
        ``s_k = min_{j != k} |c_k - c_j| / 2`` (``inf`` for one cluster); empty: the
        step computes them from ``centers`` when it needs them. Zeros with
        ``lower`` = 0 turn pruning off: a plain Lloyd step.
    drift, lower_drift : ndarray of shape (n_clusters,)
        How far each centre moved since the bounds were computed,
        ``|c_k - c_k(previous)|``, and for a row labelled ``k`` how much its lower
        bound must drop, ``max_{j != k} |c_j - c_j(previous)|`` (zeros when the
        centres did not move).
    exact : bool
        True: compute every row's distance to its centre (``upper`` is then exact)
        and the statistics of the whole assignment, inertia included. False
        (Hamerly's step): a row whose bounds show that its centre is still the
        nearest is not read; the statistics are the changes of counts, sums and
        members (out of the old cluster, into the new one) and the inertia is 0.
    labels : ndarray of shape (n_samples,)
        Input: the previous labels (e.g. the nearest k-means++ seeds), in
        ``[0, n_clusters)``; an exact step searches every centre for a row whose
        label is outside that range (a bounded step must not get one). Output: the
        nearest centre of every row (the first one on ties among those compared).
    upper : ndarray of shape (n_samples,) or (0,)
        Input (``exact=False``): upper bounds on each row's distance to its
        previous centre; output: the same for ``centers`` (exact when ``exact``).
    lower : ndarray of shape (n_samples,) or (0,)
        Input: lower bounds on each row's distance to its second-nearest previous
        centre; output: the same for ``centers``. With ``upper`` and ``lower`` both
        empty there are no per-row bounds (only ``exact`` steps, which then prune
        with the half-separation test alone): no per-row state beyond ``labels``.
    block_stats : ndarray of shape (n_blocks, lloyd_statistics_length(K, d))
        Workspace (per-block statistics, chunks in order).
    stats : ndarray of shape (lloyd_statistics_length(K, d),)
        Output statistics (module docstring).
    n_threads : int
    """
    cdef LloydProblem p
    _prepare_lloyd(&p, X.shape[0], X.shape[1], sample_weight, scale, centers, drift,
                   lower_drift, labels, upper, lower, block_stats, stats)
    p.exact = exact
    if (half_separation.shape[0] not in (p.n_clusters, 0)) or (
            lower.shape[0] == 0 and not exact):
        raise ValueError(f"half_separation must have length {p.n_clusters} or 0 (computed "
                         "here); a step without per-row bounds (upper and lower empty) "
                         "must be exact")
    if p.n_samples == 0:
        stats[:] = 0.0
        return
    cdef double* own_separation = NULL
    if half_separation.shape[0] > 0:
        p.half_separation = &half_separation[0]
    elif _reads_separation(&p):
        own_separation = <double*> malloc(p.n_clusters * sizeof(double))
        if own_separation == NULL:
            raise MemoryError("could not allocate the half-separations")
        _half_separations(p.centers, p.n_clusters, p.n_features, own_separation)
        p.half_separation = own_separation
    cdef int status
    cdef const floating* Xp = &X[0, 0]
    with nogil:
        status = _lloyd_pass(&p, Xp, &block_stats[0, 0], block_stats.shape[0], &stats[0],
                             n_threads)
    free(own_separation)
    if status != 0:
        raise MemoryError("could not allocate per-thread scratch buffers")


cdef void _prepare_lloyd(LloydProblem* p, Py_ssize_t n, Py_ssize_t d,
                         const double[::1] sample_weight, const double[::1] scale,
                         const double[:, ::1] centers, const double[::1] drift,
                         const double[::1] lower_drift, Py_ssize_t[::1] labels,
                         double[::1] upper, double[::1] lower, double[:, ::1] block_stats,
                         double[::1] stats) except *:
    """Check the buffers of a Lloyd pass and point ``p`` at them (``exact`` and
    ``half_separation`` are left to the caller)."""
    memset(p, 0, sizeof(LloydProblem))
    p.n_samples = n
    p.n_features = d
    p.n_clusters = centers.shape[0]
    p.n_stats = _lloyd_length(p.n_clusters, d)
    cdef Py_ssize_t K = p.n_clusters
    if K < 1 or centers.shape[1] != d:
        raise ValueError(f"centers must have shape (n_clusters >= 1, {d}), got "
                         f"({centers.shape[0]}, {centers.shape[1]})")
    if drift.shape[0] != K or lower_drift.shape[0] != K:
        raise ValueError(f"drift and lower_drift must have length {K}")
    if labels.shape[0] != n:
        raise ValueError(f"labels must have length n_samples={n}")
    if (lower.shape[0], upper.shape[0]) not in ((n, n), (0, 0)):
        raise ValueError(f"upper and lower must both have length n_samples={n}, or both "
                         "be empty (no per-row bounds: exact steps only)")
    if stats.shape[0] != p.n_stats or (block_stats.shape[0] > 0
                                       and block_stats.shape[1] != p.n_stats):
        raise ValueError(f"stats must have length {p.n_stats} and block_stats "
                         f"{p.n_stats} columns")
    _check_blocks(n, block_stats.shape[0], "block_stats")
    p.sample_weight = _weights_ptr(sample_weight, n)
    p.scale = _scale_ptr(scale, d)
    if n == 0:
        return
    p.centers = &centers[0, 0]
    p.drift = &drift[0]
    p.lower_drift = &lower_drift[0]
    p.labels = &labels[0]
    if lower.shape[0] > 0:
        p.upper = &upper[0]
        p.lower = &lower[0]


cdef inline bint _reads_separation(const LloydProblem* p) noexcept nogil:
    """Whether a pass reads the half-separations (the per-row bounds, or an exact
    step's half-separation test beyond SEARCH_ALL_MAX_CLUSTERS centres)."""
    return p.lower != NULL or p.n_clusters > SEARCH_ALL_MAX_CLUSTERS


cdef int _lloyd_pass(const LloydProblem* p, const floating* X, double* block_stats,
                     Py_ssize_t nb, double* stats, int n_threads) noexcept nogil:
    """One Lloyd pass over the fixed partition into ``stats`` (blocks in order).
    Returns 0, or -1 when scratch is missing."""
    cdef int status = _run_blocks(PASS_LLOYD, p, X, p.n_samples, p.n_features, 0,
                                  block_stats, p.n_stats, nb, n_threads,
                                  p.n_clusters * p.n_features + 16)
    if status == 0:
        ordered_block_sum(block_stats, nb, p.n_stats, stats, n_threads)
    return status


# Why ``lloyd_iterations`` returned.
LLOYD_CONVERGED = 0    # no label changed, or the centres moved less than the tolerance
LLOYD_MAX_ITER = 1     # it ran the steps it was allowed
LLOYD_EMPTY = 2        # the last step left a cluster without members: relocate it


def lloyd_iterations(
    const floating[:, ::1] X,                 # IN (n_samples, n_features)
    const double[::1] sample_weight,          # IN (n_samples,) or (0,)
    const double[::1] scale,                  # IN (n_features,) or (0,): no scaling
    double[:, ::1] centers,                   # INOUT (K, n_features)
    double[::1] totals,                       # INOUT (n_stats - 2,)
    double[::1] drift,                        # INOUT (K,)
    double[::1] lower_drift,                  # INOUT (K,)
    bint exact_first,                         # IN
    Py_ssize_t n_done,                        # IN steps done before this call
    Py_ssize_t max_iter,                      # IN
    double tol,                               # IN on the summed squared centre shift
    Py_ssize_t[::1] labels,                   # INOUT (n_samples,)
    double[::1] upper,                        # INOUT (n_samples,) or (0,)
    double[::1] lower,                        # INOUT (n_samples,) or (0,)
    double[:, ::1] block_stats,               # OUT workspace (n_blocks, n_stats)
    double[::1] stats,                        # OUT (n_stats,)
    int n_threads,                            # IN
):
    """Lloyd's iterations in one call, from the given centres and row state.

    Every step is a ``lloyd_step`` (exact when there are no per-row bounds, for the
    first step when ``exact_first``, and otherwise Hamerly's bounded step, whose
    changes are added to ``totals``); the new centres are the cluster means, and
    ``drift``/``lower_drift`` how far they moved. The loop stops

    * with ``LLOYD_CONVERGED`` when a step after the first (``n_done + 1 > 1``)
      changed no label, or when ``sum_k drift_k^2 <= tol``;
    * with ``LLOYD_MAX_ITER`` after step ``max_iter``;
    * with ``LLOYD_EMPTY`` when a step leaves a cluster without members (rows of
      positive weight): ``centers`` and ``drift`` are then those before the step,
      ``totals`` the statistics of its assignment, and (a bounded step is redone
      exactly, centres unmoved, ``drift`` and ``lower_drift`` set to 0) ``upper``
      the exact distance of every row to its centre. The caller relocates the
      empty clusters and calls again with ``exact_first``.

    Unless it returns ``LLOYD_EMPTY``, a final exact step makes ``labels`` and
    ``stats`` (the inertia in ``stats[0]``) those of the final centres; it is
    skipped when the last step was exact and changed no label (it would compute
    the same). A pending signal (Ctrl-C) raises between steps.

    Parameters
    ----------
    X, sample_weight, scale, labels, upper, lower, block_stats, stats, n_threads
        As for ``lloyd_step``. With per-row bounds, ``labels``, ``upper`` and
        ``lower`` must be valid for ``centers`` moved by ``drift`` and
        ``lower_drift`` (as a previous step or the seeding leaves them); a row
        labelled outside ``[0, K)`` needs ``exact_first``.
    centers : ndarray of shape (n_clusters, n_features)
        Input: the current centres. Output: the final ones.
    totals : ndarray of shape (lloyd_statistics_length(K, d) - 2,)
        Counts, sums and members of the current assignment (read only by a first
        bounded step); output: those of the last step's assignment.
    drift, lower_drift : ndarray of shape (n_clusters,)
        As for ``lloyd_step`` (input: since the row state was computed).
    exact_first : bool
    n_done, max_iter : int
        Steps already done, and the cap on all of them.
    tol : float
        Absolute tolerance on ``sum_k |c_k(new) - c_k(old)|^2``.

    Returns
    -------
    n_iter : int
        Steps done, ``n_done`` included.
    reason : int
        ``LLOYD_CONVERGED``, ``LLOYD_MAX_ITER`` or ``LLOYD_EMPTY``.
    """
    cdef LloydProblem p
    _prepare_lloyd(&p, X.shape[0], X.shape[1], sample_weight, scale, centers, drift,
                   lower_drift, labels, upper, lower, block_stats, stats)
    cdef Py_ssize_t K = p.n_clusters, d = p.n_features, n_iter = n_done
    cdef Py_ssize_t q, n_totals = p.n_stats - 2
    if totals.shape[0] != n_totals:
        raise ValueError(f"totals must have length {n_totals}")
    if p.n_samples == 0:
        raise ValueError("lloyd_iterations needs at least one row")
    if p.lower == NULL:
        exact_first = True
    cdef double* separation = <double*> malloc(K * sizeof(double))
    if separation == NULL:
        raise MemoryError("could not allocate the half-separations")
    cdef const floating* Xp = &X[0, 0]
    cdef double* bs = &block_stats[0, 0]
    cdef Py_ssize_t nb = block_stats.shape[0]
    cdef double* tot = &totals[0]
    cdef double* st = &stats[0]
    cdef int status = 0, reason = LLOYD_MAX_ITER
    cdef bint exact = True, settled = False, all_full = True
    try:
        while n_iter < max_iter:
            PyErr_CheckSignals()
            n_iter += 1
            exact = exact_first or p.lower == NULL
            exact_first = False
            with nogil:
                status = _lloyd_step_in_loop(&p, Xp, separation, exact, bs, nb, st,
                                             n_threads)
                if status == 0:
                    for q in range(n_totals):
                        tot[q] = st[2 + q] if exact else tot[q] + st[2 + q]
                    all_full = _all_clusters_full(tot, K, d)
                    if not all_full and not exact:
                        # Exact distances for the relocation, centres unmoved.
                        memset(<double*> p.drift, 0, K * sizeof(double))
                        memset(<double*> p.lower_drift, 0, K * sizeof(double))
                        status = _lloyd_step_in_loop(&p, Xp, separation, True, bs, nb,
                                                     st, n_threads)
            if status != 0:
                break
            if not all_full:
                reason = LLOYD_EMPTY
                break
            with nogil:
                _move_centers(&centers[0, 0], tot, K, d, p.lower != NULL,
                              <double*> p.drift, <double*> p.lower_drift)
            if n_iter > 1 and st[1] == 0.0:
                # Same labels twice: the centres are their means (drift is exactly 0).
                reason = LLOYD_CONVERGED
                settled = exact
                break
            if _squared_norm(p.drift, K) <= tol:
                reason = LLOYD_CONVERGED
                break
        if status == 0 and reason != LLOYD_EMPTY and not settled:
            with nogil:
                status = _lloyd_step_in_loop(&p, Xp, separation, True, bs, nb, st,
                                             n_threads)
    finally:
        free(separation)
    if status != 0:
        raise MemoryError("could not allocate per-thread scratch buffers")
    return n_iter, reason


cdef int _lloyd_step_in_loop(LloydProblem* p, const floating* X, double* separation,
                             bint exact, double* block_stats, Py_ssize_t nb, double* stats,
                             int n_threads) noexcept nogil:
    """A ``lloyd_step`` of ``lloyd_iterations`` (half-separations computed here)."""
    p.exact = exact
    p.half_separation = NULL
    if _reads_separation(p):
        _half_separations(p.centers, p.n_clusters, p.n_features, separation)
        p.half_separation = separation
    return _lloyd_pass(p, X, block_stats, nb, stats, n_threads)


cdef inline bint _all_clusters_full(const double* totals, Py_ssize_t K,
                                    Py_ssize_t d) noexcept nogil:
    """Whether every cluster has a member (``totals``: counts, sums, members)."""
    cdef Py_ssize_t k
    for k in range(K):
        if not totals[K + K * d + k] > 0.0:
            return False
    return True


cdef void _move_centers(double* centers, const double* totals, Py_ssize_t K, Py_ssize_t d,
                        bint bounded, double* drift, double* lower_drift) noexcept nogil:
    """centers <- sums / counts; drift_k = |c_k(new) - c_k(old)| (squares summed in
    feature order); lower_drift_k = max_{j != k} drift_j with per-row bounds (else
    drift)."""
    cdef Py_ssize_t k, j, top = 0
    cdef double c, v, dsq, first = -INFINITY, second = -INFINITY
    for k in range(K):
        dsq = 0.0
        for j in range(d):
            c = totals[K + k * d + j] / totals[k]
            v = c - centers[k * d + j]
            dsq = dsq + v * v
            centers[k * d + j] = c
        drift[k] = sqrt(dsq)
    for k in range(K):
        if not bounded:
            lower_drift[k] = drift[k]
        elif drift[k] > first:
            second = first
            first = drift[k]
            top = k
        elif drift[k] > second:
            second = drift[k]
    if bounded:
        for k in range(K):
            lower_drift[k] = first if k != top else (second if K > 1 else 0.0)


cdef inline double _squared_norm(const double* values, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    cdef double total = 0.0
    for k in range(n):
        total = total + values[k] * values[k]
    return total
