"""Chunked, multi-threaded kernels for Gaussian mixture EM.

One skeleton serves every covariance type and every caller:

* ``em_statistics``: the fused E-step + sufficient statistics of one EM
  iteration (one pass over ``X``; no n_samples-sized array is written);
* ``assignment_statistics``: sufficient statistics of given responsibilities
  (hard labels or a soft ``resp`` array), used by initialization;
* ``estimate_log_prob``: the E-step alone (``score_samples``, ``predict``,
  ``predict_proba``);
* ``em_iterations``: whole EM iterations (this pass and the compiled M-step) until
  convergence, the iteration cap, or an iteration that the Python loop must handle,
  without returning to Python in between (small fits, where the round trip per
  iteration costs as much as the pass).

Rows are cut into chunks and chunks into blocks by the fixed partition of
``_partition.pxd``; each block accumulates its chunks in order into its own
statistics buffer and the buffers are summed in block order, so results are
bit-identical for any ``n_threads``. Blocks are handed to threads dynamically (a
stalled thread's blocks go to the others) without changing any result, because each
block is always computed whole, in order, by one thread.

Three compute paths share the skeleton (``matrix_path()`` tells which one serves
full and tied covariances here):

* the *row-loop path* (diag, spherical, and full/tied with few features): the rows
  are transposed into a per-thread ``(n_features, chunk)`` buffer and plain loops run
  over rows with unit stride, which the compiler vectorizes, in float64;
* the *micro-kernel path* (full/tied, AVX2 and AVX-512 builds): register-blocked
  kernels from ``_microkernels.h`` compute ``||(x - mu_k)^T U_k||^2`` (full: on the
  chunk transposed once, samples in the vector lanes; tied: on row-major rows) and
  the Gram matrices ``sum gamma (x - c_k)(x - c_k)^T`` on row-major chunk buffers;
* the *BLAS path* (full/tied, baseline builds, where BLAS's own dispatch beats SSE2
  code): the transposed chunk is, in Fortran order, the ``(chunk, d)`` matrix itself,
  so ``?trmm`` computes ``(x - mu_k) U_k`` and ``?syrk`` the Gram matrices in place.

The matrix paths compute in the input's precision (float32 data in float32) and
accumulate every chunk into float64.

Statistics layout (a flat float64 vector, see ``n_statistics``)::

    [0]                  sum_n w_n log p(x_n)
    [1, 1+K)             N_k = sum_n w_n gamma_nk
    [1+K, 1+K+K*d)       S1_k = sum_n w_n gamma_nk (x_n - c_k)            (K, d)
    [1+K+K*d, ...)       S2, by covariance type, with D = x_n - c_k:
        full       (K, d, d) sum_n w_n gamma_nk D D^T   (upper triangle filled)
        tied       (d, d)    sum_k sum_n w_n gamma_nk D D^T (upper triangle)
        diag       (K, d)    sum_n w_n gamma_nk D**2
        spherical  (K, d)    same as diag; the M-step averages over features

``c_k`` is the shift (the current means during EM), which keeps the one-pass
covariance free of catastrophic cancellation. For float32 data the caller passes
a shift that is exactly representable in float32.
"""

from cython cimport floating
from cpython.exc cimport PyErr_CheckSignals
from cython.parallel cimport parallel, prange
from libc.math cimport fabs, isfinite, sqrt
from libc.stdlib cimport free
from libc.string cimport memset
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
from scipy.linalg.cython_blas cimport dsyrk, dtrmm, ssyrk, strmm

import numpy as np

from ._constrained cimport M_EII, M_VVI, M_VVV, _constrained_mstep
from ._covariance cimport (COV_DIAG, COV_FULL, COV_SPHERICAL, COV_TIED, _mstep, factor_size,
                           s2_size)
from ._partition cimport (CHUNK_SIZE, block_first_chunk, lane_dot, lane_sum, n_chunks_of,
                         ordered_block_sum, partition_blocks,
                         useful_threads)


cdef extern from "_fastmath.h" nogil:
    double fgmm_exp_floor(double x) noexcept
    double fgmm_log_pos(double x) noexcept

cdef extern from "_microkernels.h" nogil:
    const int FGMM_TILE_ROWS
    size_t fgmm_padded_stride_d(size_t d) noexcept
    size_t fgmm_padded_stride_f(size_t d) noexcept
    void fgmm_centered_upper_transform_d(
        const double* X, size_t n_rows, size_t d, size_t x_ld, const double* mu,
        const double* U, size_t ld, double* work, double* Y) noexcept
    void fgmm_centered_upper_transform_f(
        const float* X, size_t n_rows, size_t d, size_t x_ld, const float* mu,
        const float* U, size_t ld, float* work, float* Y) noexcept
    void fgmm_gram_upper_d(const double* E, size_t n_rows, size_t d, size_t ld,
                           double* G, size_t gld) noexcept
    void fgmm_centred_moments(const double* x, double c, const double* g, size_t t,
                              double* s1, double* s2) noexcept
    void fgmm_gram_upper_f(const float* E, size_t n_rows, size_t d, size_t ld,
                           float* G, size_t gld) noexcept
    const int FGMM_TILE_COLS_D
    const int FGMM_TILE_COLS_F
    void fgmm_prefetch(const void* start, size_t n_bytes) noexcept
    void fgmm_weighted_centred_rows_d(
        const double* X, size_t x_ld, const Py_ssize_t* rows, size_t t, size_t d,
        const double* centre, const double* g, const double* root, double* E, size_t ld,
        double* s1) noexcept
    void fgmm_weighted_centred_rows_f(
        const float* X, size_t x_ld, const Py_ssize_t* rows, size_t t, size_t d,
        const float* centre, const float* g, const float* root, float* E, size_t ld,
        double* s1) noexcept
    void fgmm_transpose_rows_d(const double* X, size_t n_rows, size_t d, size_t x_ld,
                               double* xt, size_t xt_ld) noexcept
    void fgmm_transpose_rows_f(const float* X, size_t n_rows, size_t d, size_t x_ld,
                               float* xt, size_t xt_ld) noexcept
    void fgmm_centered_upper_norms_d(
        const double* xt, size_t xt_ld, size_t n_rows, size_t d, const double* mu,
        const double* U, size_t ld, double* work, double* sq) noexcept
    void fgmm_centered_upper_norms_f(
        const float* xt, size_t xt_ld, size_t n_rows, size_t d, const float* mu,
        const float* U, size_t ld, float* work, float* sq) noexcept

cdef extern from *:
    """
    /* The micro-kernels beat BLAS where the build has wide vectors; the row loops
       beat both below the crossover measured by benchmarks/paths.py. */
    #if defined(__AVX512F__)
    #define FGMM_DEFAULT_MATRIX_PATH 2
    #define FGMM_DEFAULT_MATRIX_MIN_FEATURES 16
    #elif defined(__AVX2__)
    #define FGMM_DEFAULT_MATRIX_PATH 2
    #define FGMM_DEFAULT_MATRIX_MIN_FEATURES 14
    #else
    #define FGMM_DEFAULT_MATRIX_PATH 1
    #define FGMM_DEFAULT_MATRIX_MIN_FEATURES 16
    #endif
    """
    const int FGMM_DEFAULT_MATRIX_PATH
    const int FGMM_DEFAULT_MATRIX_MIN_FEATURES

cdef extern from *:
    """
    #include <stdlib.h>
    /* 64-byte aligned, zeroed scratch: every thread's buffers have the same alignment,
       so vectorized loops and BLAS take the same code paths in every thread. */
    static void* fgmm_aligned_calloc(size_t n_bytes) {
        void* ptr = NULL;
        size_t rounded = (n_bytes + 63) / 64 * 64;
        if (posix_memalign(&ptr, 64, rounded ? rounded : 64) != 0) return NULL;
        memset(ptr, 0, rounded ? rounded : 64);
        return ptr;
    }
    """
    void* fgmm_aligned_calloc(size_t n_bytes) noexcept nogil


# Where the responsibilities of a chunk come from.
cdef enum:
    GAMMA_ESTEP = 0    # computed from the current parameters
    GAMMA_LABELS = 1   # one-hot from integer labels (negative label: no component)
    GAMMA_RESP = 2     # given soft responsibilities (n_samples, K)

COVARIANCE_KINDS = {"full": COV_FULL, "tied": COV_TIED, "diag": COV_DIAG,
                    "spherical": COV_SPHERICAL}

# Compute paths for full and tied covariances.
cdef enum:
    PATH_ROWS = 0      # row loops on the transposed chunk (float64)
    PATH_BLAS = 1      # ?trmm / ?syrk on the transposed chunk
    PATH_MICRO = 2     # register-blocked micro-kernels on row-major chunks

PATH_NAMES = {PATH_ROWS: "rows", PATH_BLAS: "blas", PATH_MICRO: "micro"}

# From this many features on, full/tied covariances take MATRIX_PATH instead of the
# row loops (measured on the three builds; see benchmarks/paths.py).
cdef Py_ssize_t MATRIX_MIN_FEATURES = FGMM_DEFAULT_MATRIX_MIN_FEATURES
cdef int MATRIX_PATH = FGMM_DEFAULT_MATRIX_PATH


cdef struct Problem:
    Py_ssize_t n_samples
    Py_ssize_t n_features
    Py_ssize_t n_components
    int kind
    int gamma_source
    bint want_stats
    int path                        # PATH_ROWS / PATH_BLAS / PATH_MICRO
    Py_ssize_t ld                   # micro path: padded row stride of chunk buffers
    const double* sample_weight     # (n,) or NULL for unit weights
    const double* means             # (K, d): E-step centres
    const double* shift             # (K, d): statistics shift c_k
    const double* prec_chol         # full (K,d,d) | tied (d,d) | diag (K,d) | sph (K,)
    const double* log_const         # (K,) log pi_k + log det U_k - d/2 log 2 pi
    const double* tied_offsets      # (K, d): (mu_k - mu_0) U, tied E-step only
    const void* means_x             # matrix paths: means, prec_chol and shift in the
    const void* prec_chol_x         #   input's precision (float32 copies or the
    const void* shift_x             #   float64 arrays; micro: factors row-padded)
    const Py_ssize_t* labels_in     # (n,) for GAMMA_LABELS
    const double* resp_in           # (n, K) for GAMMA_RESP
    double* log_norm_out            # (n,) or NULL
    double* resp_out                # (n, K) or NULL
    Py_ssize_t* labels_out          # (n,) or NULL
    Py_ssize_t n_stats
    Py_ssize_t s1_offset
    Py_ssize_t s2_offset


cdef struct Scratch:
    double* lp      # (K, CHUNK): log-probabilities, then weighted responsibilities
    double* row_a   # (CHUNK,)
    double* row_b   # (CHUNK,)
    double* row_c   # (CHUNK,)
    double* xt      # (d, CHUNK): transposed chunk (BLAS path, micro full: input's type)
    double* diff    # (d + 1, CHUNK): chunk minus a centre (BLAS path: input's type)
    double* ybuf    # (d, CHUNK): transformed chunk (row-loop path, full and tied)
    double* mat     # (d + 1, d + 1): Gram matrix of a chunk (BLAS path)
    Py_ssize_t* rows  # (CHUNK,): rows of the chunk with non-zero responsibility
    void* mk_rows   # micro path, input's type: (mk_rows, ld) chunk minus a centre
    void* mk_out    # micro path: (mk_rows, ld) transformed rows (tied) / Gram (d, ld)
    void* mk_sq     # micro path: (mk_rows,) squared norms


def n_statistics(str covariance_type, Py_ssize_t n_components, Py_ssize_t n_features):
    """Length of the flat statistics vector (see the module docstring)."""
    cdef int kind = COVARIANCE_KINDS[covariance_type]
    return 1 + n_components + n_components * n_features + s2_size(
        kind, n_components, n_features)


def n_blocks(Py_ssize_t n_samples, Py_ssize_t n_stats):
    """Number of row blocks of the fixed partition for this problem size.

    Depends only on the shape of the problem, never on the thread count: that is
    what makes every result bit-identical for any ``n_threads``.
    """
    return partition_blocks(n_samples, n_stats)


def chunk_size():
    """Rows per chunk of the fixed partition (exposed for tests)."""
    return CHUNK_SIZE


def matrix_path(str covariance_type, Py_ssize_t n_features):
    """The compute path this build takes: "rows", "blas" or "micro"."""
    return PATH_NAMES[_choose_path(COVARIANCE_KINDS[covariance_type], n_features)]


def uses_blas(str covariance_type, Py_ssize_t n_features):
    """Whether the E-step of this problem calls BLAS (then keep BLAS single-threaded)."""
    return _choose_path(COVARIANCE_KINDS[covariance_type], n_features) == PATH_BLAS


def _set_matrix_path(Py_ssize_t min_features, str path):
    """Test and benchmark hook: full/tied problems with at least ``min_features``
    features take ``path`` ("rows", "blas" or "micro"); returns the previous pair."""
    global MATRIX_MIN_FEATURES, MATRIX_PATH
    previous = (MATRIX_MIN_FEATURES, PATH_NAMES[MATRIX_PATH])
    MATRIX_MIN_FEATURES = max(1, min_features)
    MATRIX_PATH = {name: code for code, name in PATH_NAMES.items()}[path]
    return previous


def _padded_stride(Py_ssize_t n_features, dtype):
    """Row stride of the micro-kernel buffers for this many features and dtype."""
    if np.dtype(dtype) == np.float32:
        return fgmm_padded_stride_f(n_features)
    return fgmm_padded_stride_d(n_features)


cdef int _choose_path(int kind, Py_ssize_t d) noexcept nogil:
    if kind != COV_FULL and kind != COV_TIED:
        return PATH_ROWS
    if d < MATRIX_MIN_FEATURES:
        return PATH_ROWS
    return MATRIX_PATH


# --------------------------------------------------------------------------------
# Row-loop helpers (inlined; loops run over rows with unit stride).
# --------------------------------------------------------------------------------

cdef inline void _center(const floating* xt, const floating* centre, Py_ssize_t m,
                         Py_ssize_t d, floating* diff) noexcept nogil:
    """diff[j, i] = xt[j, i] - centre[j] for the (d, CHUNK) layout."""
    cdef Py_ssize_t i, j
    cdef floating c
    for j in range(d):
        c = centre[j]
        for i in range(m):
            diff[j * CHUNK_SIZE + i] = xt[j * CHUNK_SIZE + i] - c


cdef inline void _upper_transform(const double* diff, const double* U, Py_ssize_t m,
                                  Py_ssize_t d, double* y) noexcept nogil:
    """y[j, i] = (diff[:, i]^T U)[j] for an upper-triangular U, (d, CHUNK) layout."""
    cdef Py_ssize_t i, j, l
    cdef double u
    cdef double* yj
    for j in range(d):
        yj = y + j * CHUNK_SIZE
        u = U[j]
        for i in range(m):
            yj[i] = diff[i] * u
        for l in range(1, j + 1):
            u = U[l * d + j]
            for i in range(m):
                yj[i] += diff[l * CHUNK_SIZE + i] * u


cdef inline void _sum_squares(const floating* y, const double* offsets, Py_ssize_t m,
                              Py_ssize_t d, floating* acc) noexcept nogil:
    """acc[i] = sum_j (y[j, i] - offsets[j])^2 (offsets may be NULL for zeros), in the
    precision of y."""
    cdef Py_ssize_t i, j
    cdef floating v, t
    for i in range(m):
        acc[i] = 0.0
    for j in range(d):
        v = 0.0 if offsets == NULL else <floating> offsets[j]
        for i in range(m):
            t = y[j * CHUNK_SIZE + i] - v
            acc[i] += t * t


cdef inline Py_ssize_t _select_rows(const double* gamma, Py_ssize_t m, Py_ssize_t* rows,
                                    double* gamma_sel) noexcept nogil:
    """Rows of the chunk with gamma > 0, in order; their gammas into gamma_sel.

    Responsibilities below the exp floor are exact zeros and contribute nothing
    to a component's statistics, so skipping their rows changes no result: with
    well-separated components most rows are skipped for most components. When
    most rows are non-zero, all m rows are kept (contiguous, vectorized loops).
    """
    cdef Py_ssize_t i, t = 0
    for i in range(m):
        t += gamma[i] > 0.0
    if 2 * t >= m:
        for i in range(m):
            gamma_sel[i] = gamma[i]
        return m
    t = 0
    for i in range(m):
        if gamma[i] > 0.0:
            rows[t] = i
            gamma_sel[t] = gamma[i]
            t += 1
    return t


cdef inline void _gather_center(const floating* xt, const floating* centre,
                                const Py_ssize_t* rows, Py_ssize_t t, Py_ssize_t m,
                                Py_ssize_t d, floating* diff) noexcept nogil:
    """diff[j, q] = xt[j, rows[q]] - centre[j] for the t selected rows."""
    cdef Py_ssize_t q, j
    cdef floating c
    if t == m:                      # every row selected: contiguous
        _center(xt, centre, m, d, diff)
        return
    for j in range(d):
        c = centre[j]
        for q in range(t):
            diff[j * CHUNK_SIZE + q] = xt[j * CHUNK_SIZE + rows[q]] - c


# --------------------------------------------------------------------------------
# BLAS wrappers: row-major (d, CHUNK) buffers are Fortran (CHUNK, d) matrices.
# --------------------------------------------------------------------------------

cdef inline void _right_multiply_upper(floating* D, const floating* U, int m,
                                       int d) noexcept nogil:
    """D := D U for D (m, d) Fortran with leading dimension CHUNK, U (d, d) row-major
    upper triangular (whose memory is U^T, lower, in Fortran order)."""
    cdef char side = b'R', uplo = b'L', trans = b'T', diag = b'N'
    cdef int ld = CHUNK_SIZE
    cdef floating one = 1.0
    if floating is double:
        dtrmm(&side, &uplo, &trans, &diag, &m, &d, &one, <double*> U, &d, D, &ld)
    else:
        strmm(&side, &uplo, &trans, &diag, &m, &d, &one, <float*> U, &d, D, &ld)


cdef inline void _add_gram(const floating* E, int m, int d, double* s1, double* S2,
                           floating* work) noexcept nogil:
    """One ?syrk for both moments of a component over a chunk.

    ``E`` (m, d + 1), Fortran with leading dimension CHUNK, holds sqrt(gamma) D in
    its first d columns and sqrt(gamma) in the last, so that E^T E holds
    sum gamma D D^T (top-left) and sum gamma D (last row). They are added to the
    upper triangle of row-major S2 (d, d) and to s1 (d,).
    """
    cdef char uplo = b'L', trans = b'T'
    cdef int ld = CHUNK_SIZE, n = d + 1
    cdef int j, l
    cdef floating one = 1.0, zero = 0.0
    if floating is double:
        dsyrk(&uplo, &trans, &n, &m, &one, <double*> E, &ld, &zero, <double*> work, &n)
    else:
        ssyrk(&uplo, &trans, &n, &m, &one, <float*> E, &ld, &zero, <float*> work, &n)
    # Fortran lower triangle C(l, j), l >= j, lives at j * n + l.
    for j in range(d):
        for l in range(j, d):
            S2[j * d + l] += work[j * n + l]
        s1[j] += work[j * n + d]


# --------------------------------------------------------------------------------
# Phase A: log-probabilities of a chunk, lp[k, i] = log pi_k + log N(x_i | k).
# --------------------------------------------------------------------------------

cdef void _log_prob_rows(const Problem* p, Scratch* s, Py_ssize_t m) noexcept nogil:
    """Row-loop path, float64."""
    cdef Py_ssize_t d = p.n_features, K = p.n_components
    cdef Py_ssize_t i, j, k
    cdef double* maha = s.row_a
    cdef double* lp
    cdef const double* mu
    cdef const double* prec
    cdef double c, v, t, pk2
    if p.kind == COV_TIED:
        _center(s.xt, p.means, m, d, s.diff)
        _upper_transform(s.diff, p.prec_chol, m, d, s.ybuf)
    for k in range(K):
        lp = s.lp + k * CHUNK_SIZE
        mu = p.means + k * d
        if p.kind == COV_FULL:
            _center(s.xt, mu, m, d, s.diff)
            _upper_transform(s.diff, p.prec_chol + k * d * d, m, d, s.ybuf)
            _sum_squares(s.ybuf, <const double*> NULL, m, d, maha)
        elif p.kind == COV_TIED:
            _sum_squares(s.ybuf, p.tied_offsets + k * d, m, d, maha)
        elif p.kind == COV_DIAG:
            prec = p.prec_chol + k * d
            for i in range(m):
                maha[i] = 0.0
            for j in range(d):
                v = mu[j]
                pk2 = prec[j]
                for i in range(m):
                    t = (s.xt[j * CHUNK_SIZE + i] - v) * pk2
                    maha[i] += t * t
        else:  # COV_SPHERICAL
            _sum_squares(s.xt, mu, m, d, maha)
            pk2 = p.prec_chol[k] * p.prec_chol[k]
            for i in range(m):
                maha[i] *= pk2
        c = p.log_const[k]
        for i in range(m):
            lp[i] = c - 0.5 * maha[i]


cdef void _log_prob_blas(const Problem* p, Scratch* s, Py_ssize_t m,
                         floating* xt, floating* diff) noexcept nogil:
    """BLAS path (full, tied), in the input's precision."""
    cdef Py_ssize_t d = p.n_features, K = p.n_components
    cdef Py_ssize_t i, k
    cdef const floating* means = <const floating*> p.means_x
    cdef const floating* prec = <const floating*> p.prec_chol_x
    cdef floating* maha = <floating*> s.row_a
    cdef double* lp
    cdef double c
    if p.kind == COV_TIED:
        _center(xt, means, m, d, diff)
        _right_multiply_upper(diff, prec, <int> m, <int> d)
    for k in range(K):
        if p.kind == COV_FULL:
            _center(xt, means + k * d, m, d, diff)
            _right_multiply_upper(diff, prec + k * d * d, <int> m, <int> d)
            _sum_squares(diff, <const double*> NULL, m, d, maha)
        else:
            _sum_squares(diff, p.tied_offsets + k * d, m, d, maha)
        lp = s.lp + k * CHUNK_SIZE
        c = p.log_const[k]
        for i in range(m):
            lp[i] = c - 0.5 * maha[i]


# --------------------------------------------------------------------------------
# Phase B: per-row log-sum-exp; lp becomes the (weighted) responsibilities.
# --------------------------------------------------------------------------------

cdef double _chunk_normalize(const Problem* p, Scratch* s, Py_ssize_t r0,
                             Py_ssize_t m) noexcept nogil:
    """Turn lp (K, CHUNK) into w_i * gamma_ik in place; return sum_i w_i log p(x_i).

    Also writes the requested predict outputs (log_norm, resp, labels) for the rows.
    """
    cdef Py_ssize_t K = p.n_components
    cdef Py_ssize_t i, k, best
    cdef double* row_max = s.row_a
    cdef double* row_sum = s.row_b
    cdef double* log_norm = s.row_c
    cdef double* lp
    cdef double e, v, w
    for i in range(m):
        row_max[i] = s.lp[i]
    if p.labels_out != NULL:
        for i in range(m):
            best = 0
            for k in range(1, K):
                if s.lp[k * CHUNK_SIZE + i] > s.lp[best * CHUNK_SIZE + i]:
                    best = k
            p.labels_out[r0 + i] = best
    for k in range(1, K):
        lp = s.lp + k * CHUNK_SIZE
        for i in range(m):
            v = lp[i]
            row_max[i] = v if v > row_max[i] else row_max[i]
    for i in range(m):
        row_sum[i] = 0.0
    for k in range(K):
        lp = s.lp + k * CHUNK_SIZE
        for i in range(m):
            e = fgmm_exp_floor(lp[i] - row_max[i])
            lp[i] = e
            row_sum[i] += e
    for i in range(m):
        log_norm[i] = row_max[i] + fgmm_log_pos(row_sum[i])
        row_sum[i] = 1.0 / row_sum[i]
    if p.log_norm_out != NULL:
        for i in range(m):
            p.log_norm_out[r0 + i] = log_norm[i]
    if p.sample_weight != NULL and p.want_stats:
        for i in range(m):
            w = p.sample_weight[r0 + i]
            log_norm[i] *= w
            row_sum[i] *= w      # responsibilities come out weighted
    for k in range(K):
        lp = s.lp + k * CHUNK_SIZE
        for i in range(m):
            lp[i] *= row_sum[i]
    if p.resp_out != NULL:
        for i in range(m):
            for k in range(K):
                p.resp_out[(r0 + i) * K + k] = s.lp[k * CHUNK_SIZE + i]
    if not p.want_stats:
        return 0.0
    return lane_sum(log_norm, m)


cdef inline void _note_nonfinite_rows(const double* log_norm, Py_ssize_t r0, Py_ssize_t m,
                                     double* counts) noexcept nogil:
    """counts[0] += rows of the chunk whose log-likelihood is not finite; counts[1]:
    1 + the first such row of the block (0 while there is none)."""
    cdef Py_ssize_t i
    for i in range(m):
        if not isfinite(log_norm[i]):
            counts[0] += 1.0
            if counts[1] == 0.0:
                counts[1] = <double> (r0 + i + 1)


cdef void _chunk_given_gamma(const Problem* p, Scratch* s, Py_ssize_t r0,
                             Py_ssize_t m) noexcept nogil:
    """Fill lp (K, CHUNK) with w_i * gamma_ik from labels or a resp array."""
    cdef Py_ssize_t K = p.n_components
    cdef Py_ssize_t i, k, label
    cdef double w
    for k in range(K):
        for i in range(m):
            s.lp[k * CHUNK_SIZE + i] = 0.0
    for i in range(m):
        w = 1.0 if p.sample_weight == NULL else p.sample_weight[r0 + i]
        if p.gamma_source == GAMMA_LABELS:
            label = p.labels_in[r0 + i]
            if 0 <= label < K:
                s.lp[label * CHUNK_SIZE + i] = w
        else:
            for k in range(K):
                s.lp[k * CHUNK_SIZE + i] = w * p.resp_in[(r0 + i) * K + k]


# --------------------------------------------------------------------------------
# Phase C: accumulate the sufficient statistics of a chunk into a block buffer.
# --------------------------------------------------------------------------------

cdef inline double* _s2_target(const Problem* p, double* stats, Py_ssize_t k) noexcept nogil:
    cdef Py_ssize_t d = p.n_features
    if p.kind == COV_FULL:
        return stats + p.s2_offset + k * d * d
    if p.kind == COV_TIED:
        return stats + p.s2_offset
    return stats + p.s2_offset + k * d


cdef void _accumulate_rows(const Problem* p, Scratch* s, Py_ssize_t m,
                           double* stats) noexcept nogil:
    """Row-loop path, float64, over the rows with non-zero responsibility."""
    cdef Py_ssize_t d = p.n_features, K = p.n_components
    cdef Py_ssize_t q, j, l, k, t
    cdef double* gamma = s.row_b
    cdef double* gd = s.row_a
    cdef const double* dj
    cdef double* s1
    cdef double* s2
    cdef bint matrix = p.kind == COV_FULL or p.kind == COV_TIED
    for k in range(K):
        stats[1 + k] += lane_sum(s.lp + k * CHUNK_SIZE, m)
        t = _select_rows(s.lp + k * CHUNK_SIZE, m, s.rows, gamma)
        if t == 0:
            continue
        s1 = stats + p.s1_offset + k * d
        s2 = _s2_target(p, stats, k)
        if not matrix and t == m:
            # diag/spherical over contiguous rows: both moments of a feature in one pass
            for j in range(d):
                fgmm_centred_moments(s.xt + j * CHUNK_SIZE, p.shift[k * d + j], gamma,
                                     m, s1 + j, s2 + j)
            continue
        _gather_center(s.xt, p.shift + k * d, s.rows, t, m, d, s.diff)
        if not matrix:
            for j in range(d):
                fgmm_centred_moments(s.diff + j * CHUNK_SIZE, 0.0, gamma, t, s1 + j, s2 + j)
            continue
        for j in range(d):
            dj = s.diff + j * CHUNK_SIZE
            for q in range(t):
                gd[q] = gamma[q] * dj[q]
            s1[j] += lane_sum(gd, t)
            for l in range(j, d):
                s2[j * d + l] += lane_dot(gd, s.diff + l * CHUNK_SIZE, t)


cdef void _accumulate_blas(const Problem* p, Scratch* s, Py_ssize_t m, double* stats,
                           floating* xt, floating* diff) noexcept nogil:
    """BLAS path (full, tied): both moments by one ?syrk per component, over the rows
    with non-zero responsibility, in the input's precision."""
    cdef Py_ssize_t d = p.n_features, K = p.n_components
    cdef Py_ssize_t q, j, k, t
    cdef double* gamma = s.row_b
    cdef floating* dj
    cdef const floating* shift = <const floating*> p.shift_x
    for k in range(K):
        stats[1 + k] += lane_sum(s.lp + k * CHUNK_SIZE, m)
        t = _select_rows(s.lp + k * CHUNK_SIZE, m, s.rows, gamma)
        if t == 0:
            continue
        _gather_center(xt, shift + k * d, s.rows, t, m, d, diff)
        dj = diff + d * CHUNK_SIZE          # the extra column: sqrt(gamma)
        for q in range(t):
            dj[q] = <floating> sqrt(gamma[q])
        for j in range(d):
            dj = diff + j * CHUNK_SIZE
            for q in range(t):
                dj[q] = dj[q] * diff[d * CHUNK_SIZE + q]
        _add_gram(diff, <int> t, <int> d, stats + p.s1_offset + k * d,
                  _s2_target(p, stats, k), <floating*> s.mat)


# --------------------------------------------------------------------------------
# Micro-kernel path (full, tied): row-major chunk buffers with row stride p.ld.
# --------------------------------------------------------------------------------

cdef inline Py_ssize_t _round_up(Py_ssize_t value, Py_ssize_t multiple) noexcept nogil:
    return (value + multiple - 1) // multiple * multiple


cdef inline void _micro_transform(const floating* X, Py_ssize_t m, Py_ssize_t d,
                                  const floating* mu, const floating* U, Py_ssize_t ld,
                                  floating* work, floating* Y) noexcept nogil:
    """Y_i = (x_i - mu)^T U for the m rows at X (row stride ld)."""
    if floating is double:
        fgmm_centered_upper_transform_d(X, m, d, d, mu, U, ld, work, Y)
    else:
        fgmm_centered_upper_transform_f(X, m, d, d, mu, U, ld, work, Y)


cdef inline void _transpose_chunk(const floating* X, Py_ssize_t m, Py_ssize_t d,
                                  floating* xt) noexcept nogil:
    """xt (d, CHUNK) := the m rows at X transposed."""
    if floating is double:
        fgmm_transpose_rows_d(X, m, d, d, xt, CHUNK_SIZE)
    else:
        fgmm_transpose_rows_f(X, m, d, d, xt, CHUNK_SIZE)


cdef inline void _micro_transpose(const floating* X, Py_ssize_t m, Py_ssize_t d,
                                  floating* xt) noexcept nogil:
    """xt (d, CHUNK) := the m rows at X transposed; columns m..CHUNK-1 zero."""
    cdef Py_ssize_t i, j
    _transpose_chunk(X, m, d, xt)
    if m < CHUNK_SIZE:
        for j in range(d):
            for i in range(m, CHUNK_SIZE):
                xt[j * CHUNK_SIZE + i] = 0


cdef inline void _micro_norms(const floating* xt, Py_ssize_t m, Py_ssize_t d,
                              const floating* mu, const floating* U, Py_ssize_t ld,
                              floating* work, floating* sq) noexcept nogil:
    """sq_i = ||(x_i - mu)^T U||^2 for the m columns of the transposed chunk xt."""
    if floating is double:
        fgmm_centered_upper_norms_d(xt, CHUNK_SIZE, m, d, mu, U, ld, work, sq)
    else:
        fgmm_centered_upper_norms_f(xt, CHUNK_SIZE, m, d, mu, U, ld, work, sq)


cdef inline Py_ssize_t _tile_cols(Py_ssize_t item_size) noexcept nogil:
    return FGMM_TILE_COLS_D if item_size == 8 else FGMM_TILE_COLS_F


cdef inline void _micro_gram(const floating* E, Py_ssize_t n_rows, Py_ssize_t d,
                             Py_ssize_t ld, floating* G) noexcept nogil:
    """G (row stride ld + tile columns) := upper Gram matrix of the rows of E."""
    cdef Py_ssize_t gld = ld + _tile_cols(sizeof(floating))
    if floating is double:
        fgmm_gram_upper_d(E, n_rows, d, ld, G, gld)
    else:
        fgmm_gram_upper_f(E, n_rows, d, ld, G, gld)


cdef void _log_prob_micro(const Problem* p, Scratch* s, const floating* X, Py_ssize_t r0,
                          Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t d = p.n_features, K = p.n_components, ld = p.ld
    cdef Py_ssize_t i, j, k
    cdef const floating* rows = X + r0 * d
    cdef const floating* means = <const floating*> p.means_x
    cdef const floating* prec = <const floating*> p.prec_chol_x
    cdef floating* work = <floating*> s.mk_rows
    cdef floating* Y = <floating*> s.mk_out
    cdef floating* sq = <floating*> s.mk_sq
    cdef floating* xt = <floating*> s.xt
    cdef const floating* y
    cdef const double* v
    cdef double* lp
    cdef double c, t, total
    cdef Py_ssize_t next_start, next_bytes, share
    if p.kind == COV_TIED:
        # One transform for all components: y_i = (x_i - mu_0) U; then, per component,
        # ||y_i - (mu_k - mu_0) U||^2.
        _micro_transform(rows, m, d, means, prec, ld, work, Y)
    else:
        # Full: samples in vector lanes, on the chunk transposed once for all components.
        _micro_transpose(rows, m, d, xt)
    # The next chunk's rows, a share per component, so that its transpose finds them in
    # cache (the pass over X is otherwise the one access that waits for memory).
    next_start = min(r0 + m, p.n_samples)
    next_bytes = (min(r0 + m + CHUNK_SIZE, p.n_samples) - next_start) * d * sizeof(floating)
    share = (next_bytes // K + 63) // 64 * 64
    for k in range(K):
        lp = s.lp + k * CHUNK_SIZE
        c = p.log_const[k]
        if share > 0 and k * share < next_bytes:
            fgmm_prefetch(<const char*> (X + next_start * d) + k * share,
                          min(share, next_bytes - k * share))
        if p.kind == COV_FULL:
            _micro_norms(xt, m, d, means + k * d, prec + k * d * ld, ld, work, sq)
            for i in range(m):
                lp[i] = c - 0.5 * sq[i]
        else:
            v = p.tied_offsets + k * d
            for i in range(m):
                y = Y + i * ld
                total = 0.0
                for j in range(d):
                    t = y[j] - v[j]
                    total += t * t
                lp[i] = c - 0.5 * total


cdef void _accumulate_micro(const Problem* p, Scratch* s, const floating* X, Py_ssize_t r0,
                            Py_ssize_t m, double* stats) noexcept nogil:
    """Micro-kernel path (full, tied): E = sqrt(gamma)(x - c_k) for the rows with
    non-zero responsibility, S2 += E^T E by the Gram micro-kernel, S1 alongside."""
    cdef Py_ssize_t d = p.n_features, K = p.n_components, ld = p.ld
    cdef Py_ssize_t q, j, l, k, t, gld
    cdef double* gamma = s.row_b
    cdef floating* E = <floating*> s.mk_rows
    cdef floating* G = <floating*> s.mk_out
    cdef const floating* shift = <const floating*> p.shift_x
    cdef const Py_ssize_t* selected
    cdef double* S2
    cdef floating* g = <floating*> s.row_a            # gamma, in the input's type
    cdef floating* root = <floating*> s.row_c         # sqrt(gamma)
    for k in range(K):
        stats[1 + k] += lane_sum(s.lp + k * CHUNK_SIZE, m)
        t = _select_rows(s.lp + k * CHUNK_SIZE, m, s.rows, gamma)
        if t == 0:
            continue
        for q in range(t):
            g[q] = <floating> gamma[q]
            root[q] = <floating> sqrt(gamma[q])
        selected = NULL if t == m else s.rows
        if floating is double:
            fgmm_weighted_centred_rows_d(X + r0 * d, d, selected, t, d, shift + k * d, g,
                                         root, E, ld, stats + p.s1_offset + k * d)
        else:
            fgmm_weighted_centred_rows_f(X + r0 * d, d, selected, t, d, shift + k * d, g,
                                         root, E, ld, stats + p.s1_offset + k * d)
        _micro_gram(E, t, d, ld, G)
        S2 = _s2_target(p, stats, k)
        gld = ld + _tile_cols(sizeof(floating))
        for j in range(d):
            for l in range(j, d):
                S2[j * d + l] += G[j * gld + l]


# --------------------------------------------------------------------------------
# The skeleton: one chunk, all blocks.
# --------------------------------------------------------------------------------

cdef void _process_chunk(const Problem* p, const floating* X, Scratch* s,
                         Py_ssize_t r0, Py_ssize_t m, double* stats) noexcept nogil:
    cdef Py_ssize_t d = p.n_features
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef floating* xt_x = <floating*> s.xt     # BLAS path: the input's type
    cdef floating* diff_x = <floating*> s.diff
    if p.path == PATH_BLAS or (p.path == PATH_ROWS and floating is double):
        _transpose_chunk(X + r0 * d, m, d, xt_x)
    elif p.path == PATH_ROWS:                  # float32 rows into the float64 buffer
        for i in range(m):
            row = X + (r0 + i) * d
            for j in range(d):
                s.xt[j * CHUNK_SIZE + i] = row[j]
    if p.gamma_source == GAMMA_ESTEP:
        if p.path == PATH_MICRO:
            _log_prob_micro(p, s, X, r0, m)
        elif p.path == PATH_BLAS:
            _log_prob_blas(p, s, m, xt_x, diff_x)
        else:
            _log_prob_rows(p, s, m)
        if p.want_stats:
            stats[0] += _chunk_normalize(p, s, r0, m)
        else:
            _chunk_normalize(p, s, r0, m)
            if stats != NULL:
                _note_nonfinite_rows(s.row_c, r0, m, stats)
    else:
        _chunk_given_gamma(p, s, r0, m)
    if p.want_stats:
        if p.path == PATH_MICRO:
            _accumulate_micro(p, s, X, r0, m, stats)
        elif p.path == PATH_BLAS:
            _accumulate_blas(p, s, m, stats, xt_x, diff_x)
        else:
            _accumulate_rows(p, s, m, stats)


cdef inline Py_ssize_t _aligned_doubles(Py_ssize_t n_bytes) noexcept nogil:
    """Doubles covering n_bytes, rounded up to whole 64-byte lines."""
    return (n_bytes + 63) // 64 * 8


cdef inline Py_ssize_t _micro_scratch_doubles(const Problem* p,
                                              Py_ssize_t item_size) noexcept nogil:
    """Doubles of scratch the micro-kernel path needs (0 on the other paths)."""
    cdef Py_ssize_t rows_pad = _round_up(CHUNK_SIZE, FGMM_TILE_ROWS)
    cdef Py_ssize_t d_pad = _round_up(p.n_features, FGMM_TILE_ROWS)
    cdef Py_ssize_t width = _tile_cols(item_size)
    if p.path != PATH_MICRO:
        return 0
    return (_aligned_doubles((rows_pad * p.ld + width + FGMM_TILE_ROWS) * item_size)
            + _aligned_doubles(max(rows_pad * p.ld, d_pad * (p.ld + width)) * item_size)
            + _aligned_doubles(max(rows_pad, p.n_features) * item_size))


cdef inline Scratch _make_scratch(double* buffer, const Problem* p,
                                  Py_ssize_t item_size) noexcept nogil:
    """Carve one thread's scratch buffer into its named parts."""
    cdef Scratch s
    cdef Py_ssize_t d = p.n_features, K = p.n_components
    cdef Py_ssize_t rows_pad = _round_up(CHUNK_SIZE, FGMM_TILE_ROWS)
    cdef Py_ssize_t d_pad = _round_up(d, FGMM_TILE_ROWS)
    cdef double* mk
    s.lp = buffer
    s.row_a = buffer + K * CHUNK_SIZE
    s.row_b = s.row_a + CHUNK_SIZE
    s.row_c = s.row_b + CHUNK_SIZE
    s.xt = s.row_c + CHUNK_SIZE
    s.diff = s.xt + d * CHUNK_SIZE
    s.ybuf = s.diff + (d + 1) * CHUNK_SIZE
    s.mat = s.ybuf + d * CHUNK_SIZE
    s.rows = <Py_ssize_t*> (s.mat + (d + 1) * (d + 1))
    mk = <double*> (s.rows + CHUNK_SIZE)
    mk = mk + (8 - (<size_t> mk // 8) % 8) % 8       # to a 64-byte boundary
    s.mk_rows = <void*> mk
    # Slack past the last row: the Gram kernel reads up to a tile beyond it.
    mk = mk + _aligned_doubles((rows_pad * p.ld + _tile_cols(item_size) + FGMM_TILE_ROWS)
                               * item_size)
    s.mk_out = <void*> mk
    mk = mk + _aligned_doubles(max(rows_pad * p.ld, d_pad * (p.ld + _tile_cols(item_size)))
                               * item_size)
    s.mk_sq = <void*> mk
    return s


cdef int _thread_count(const Problem* p, int n_threads, Py_ssize_t n_blocks_) noexcept nogil:
    """Threads worth starting for this pass (``useful_threads`` of its work)."""
    cdef Py_ssize_t d = p.n_features
    cdef Py_ssize_t per_row = p.n_components * (d * d if p.kind <= COV_TIED else 4 * d) + 16
    return useful_threads(n_threads, n_blocks_, p.n_samples * per_row)


cdef int _run_blocks(const Problem* p, const floating* X, double* block_stats,
                     Py_ssize_t n_blocks_, double* stats, int n_threads) noexcept nogil:
    """Process all rows over the fixed block partition; return 0 or -1 (no memory)."""
    cdef Py_ssize_t n = p.n_samples, d = p.n_features, K = p.n_components
    cdef Py_ssize_t n_chunks = n_chunks_of(n)
    cdef Py_ssize_t b, c, r0, m
    cdef int failed[1]
    cdef Scratch s
    cdef double* buffer = NULL
    cdef double* my_stats = NULL
    cdef size_t scratch_bytes = sizeof(double) * (
        (3 * d + K + 5) * CHUNK_SIZE + (d + 1) * (d + 1) + 8
        + _micro_scratch_doubles(p, sizeof(floating)))

    failed[0] = 0
    if n_blocks_ == 0:
        if p.want_stats:
            memset(stats, 0, p.n_stats * sizeof(double))
        return 0
    n_threads = _thread_count(p, n_threads, n_blocks_)
    with parallel(num_threads=n_threads):
        buffer = <double*> fgmm_aligned_calloc(scratch_bytes)
        if buffer == NULL:
            failed[0] = 1
        s = _make_scratch(buffer, p, sizeof(floating))
        for b in prange(n_blocks_, schedule='dynamic'):
            if buffer != NULL:
                my_stats = NULL
                if block_stats != NULL:
                    my_stats = block_stats + b * p.n_stats
                    memset(my_stats, 0, p.n_stats * sizeof(double))
                for c in range(block_first_chunk(b, n_chunks, n_blocks_),
                               block_first_chunk(b + 1, n_chunks, n_blocks_)):
                    r0 = c * CHUNK_SIZE
                    m = min(<Py_ssize_t> CHUNK_SIZE, n - r0)
                    _process_chunk(p, X, &s, r0, m, my_stats)
        free(buffer)
    if failed[0] != 0:
        return -1
    if p.want_stats:
        ordered_block_sum(block_stats, n_blocks_, p.n_stats, stats, n_threads)
    return 0


# --------------------------------------------------------------------------------
# Python entry points.
# --------------------------------------------------------------------------------

cdef void _fill_problem(Problem* p, Py_ssize_t n, Py_ssize_t d, Py_ssize_t K, int kind):
    memset(p, 0, sizeof(Problem))
    p.n_samples = n
    p.n_features = d
    p.n_components = K
    p.kind = kind
    p.s1_offset = 1 + K
    p.s2_offset = 1 + K + K * d
    p.n_stats = p.s2_offset + s2_size(kind, K, d)


cdef void _check_stats_buffers(const Problem* p, double[:, ::1] block_stats,
                               double[::1] stats) except *:
    if stats.shape[0] != p.n_stats:
        raise ValueError(f"stats must have length {p.n_stats}, got {stats.shape[0]}")
    expected = n_blocks(p.n_samples, p.n_stats)
    if block_stats.shape[0] < expected or (expected > 0 and block_stats.shape[1] != p.n_stats):
        raise ValueError(
            f"block_stats must have shape ({expected}, {p.n_stats}), "
            f"got ({block_stats.shape[0]}, {block_stats.shape[1]})")


cdef void _check_parameters(const Problem* p, const double[:, ::1] means,
                            const double[::1] prec_chol, const double[::1] log_const) except *:
    cdef Py_ssize_t K = p.n_components, d = p.n_features
    cdef Py_ssize_t expected_prec = factor_size(p.kind, K, d)
    if means.shape[0] != K or means.shape[1] != d:
        raise ValueError(f"means must have shape ({K}, {d})")
    if prec_chol.shape[0] != expected_prec:
        raise ValueError(f"precisions_cholesky must have {expected_prec} values")
    if log_const.shape[0] != K:
        raise ValueError(f"log_norm_const must have length {K}")


cdef const double* _weights_ptr(const double[::1] sample_weight, Py_ssize_t n) except? NULL:
    if sample_weight.shape[0] == 0:
        return NULL
    if sample_weight.shape[0] != n:
        raise ValueError(f"sample_weight must have length {n} or 0")
    return &sample_weight[0]


cdef void _tied_offsets(const double* means, const double* U, Py_ssize_t K, Py_ssize_t d,
                        double* out) noexcept nogil:
    """out[k] = (mu_k - mu_0) U (K, d) for the upper-triangular tied factor U."""
    cdef Py_ssize_t k, i, j
    cdef double total
    for k in range(K):
        for j in range(d):
            total = 0.0
            for i in range(j + 1):
                total = total + (means[k * d + i] - means[i]) * U[i * d + j]
            out[k * d + j] = total


cdef object _set_estep_parameters(Problem* p, object dtype, const double[:, ::1] means,
                                  const double[::1] prec_chol, const double[::1] log_const,
                                  object shift):
    """Point ``p`` at the E-step parameters (and, for the matrix paths, at copies in the
    input's precision, the micro-kernels' with padded rows); return the arrays that
    must outlive the call."""
    cdef const double[:, ::1] offsets_view
    cdef Py_ssize_t K = p.n_components, d = p.n_features
    p.means = &means[0, 0]
    p.prec_chol = &prec_chol[0]
    p.log_const = &log_const[0]
    p.path = _choose_path(p.kind, d)
    keep = []
    if p.kind == COV_TIED:
        offsets = np.empty((K, d))
        offsets_view = offsets
        _tied_offsets(&means[0, 0], &prec_chol[0], K, d, &offsets_view[0, 0])
        p.tied_offsets = &offsets_view[0, 0]
        keep.append(offsets)
    if p.path == PATH_ROWS:
        return keep
    n_matrices = K if p.kind == COV_FULL else 1
    factors = np.asarray(prec_chol).reshape(n_matrices, d, d)
    if p.path == PATH_MICRO:
        p.ld = _padded_stride(d, dtype)
        padded = np.zeros((n_matrices, d, p.ld), dtype=dtype)
        padded[:, :, :d] = factors
        factors = padded
    arrays = [np.ascontiguousarray(means, dtype=dtype),
              np.ascontiguousarray(factors, dtype=dtype),
              None if shift is None else np.ascontiguousarray(shift, dtype=dtype)]
    pointers = [0 if array is None else array.ctypes.data for array in arrays]
    p.means_x = <const void*> <size_t> pointers[0]
    p.prec_chol_x = <const void*> <size_t> pointers[1]
    p.shift_x = <const void*> <size_t> pointers[2]
    keep.extend(arrays)
    return keep


def em_statistics(
    const floating[:, ::1] X,                 # IN (n_samples, n_features)
    const double[::1] sample_weight,          # IN (n_samples,) or (0,): unit weights
    const double[:, ::1] means,               # IN (K, n_features)
    const double[::1] precisions_cholesky,    # IN flat, see module docstring
    const double[::1] log_norm_const,         # IN (K,)
    const double[:, ::1] shift,               # IN (K, n_features): c_k, usually means
    int covariance_kind,                      # IN COVARIANCE_KINDS[...]
    double[:, ::1] block_stats,               # OUT workspace (n_blocks, n_stats)
    double[::1] stats,                        # OUT (n_stats,)
    int n_threads,                            # IN
):
    """Fused E-step and sufficient statistics of one EM iteration.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n_samples,) or (0,) for unit weights
    means : ndarray of shape (n_components, n_features)
        Component means.
    precisions_cholesky : ndarray, flattened
        Upper-triangular ``U_k`` with ``precision_k = U_k U_k^T`` (full: (K, d, d),
        tied: (d, d), diag: (K, d), spherical: (K,)).
    log_norm_const : ndarray of shape (n_components,)
        ``log pi_k + log det U_k - n_features / 2 * log(2 pi)``.
    shift : ndarray of shape (n_components, n_features)
        The shift ``c_k`` of the statistics: the current means, except when the
        caller repeats a pass about better centres. For float32 ``X`` every value
        must be exactly representable in float32.
    covariance_kind : int
    block_stats : ndarray of shape (n_blocks(n_samples, n_stats), n_stats)
        Workspace, overwritten.
    stats : ndarray of shape (n_stats,)
        Output statistics (module docstring); ``stats[0]`` is the weighted sum of
        the per-row log-likelihoods under the given parameters.
    n_threads : int
    """
    cdef Problem p
    _fill_problem(&p, X.shape[0], X.shape[1], means.shape[0], covariance_kind)
    _check_parameters(&p, means, precisions_cholesky, log_norm_const)
    _check_stats_buffers(&p, block_stats, stats)
    if shift.shape[0] != p.n_components or shift.shape[1] != p.n_features:
        raise ValueError("shift must have the shape of means")
    p.sample_weight = _weights_ptr(sample_weight, p.n_samples)
    _statistics_pass(&p, X, means, precisions_cholesky, log_norm_const, shift,
                     block_stats, stats, n_threads)


cdef void _statistics_pass(Problem* p, const floating[:, ::1] X,
                           const double[:, ::1] means, const double[::1] prec_chol,
                           const double[::1] log_const, const double[:, ::1] shift,
                           double[:, ::1] block_stats, double[::1] stats,
                           int n_threads) except *:
    """One fused E-step and statistics pass of ``p`` (shapes checked, weights set)
    under the given parameters, about ``shift``: ``em_statistics``' work, and each
    iteration of ``em_iterations``."""
    cdef const floating* X_ptr = NULL
    cdef double* block_ptr = NULL
    cdef Py_ssize_t n_blocks_ = n_blocks(p.n_samples, p.n_stats)
    cdef int status
    p.gamma_source = GAMMA_ESTEP
    p.want_stats = True
    p.shift = &shift[0, 0]
    if p.n_samples > 0:
        X_ptr = &X[0, 0]
    if n_blocks_ > 0:
        block_ptr = &block_stats[0, 0]
    keep = _set_estep_parameters(p, np.float64 if floating is double else np.float32,
                                 means, prec_chol, log_const, shift)
    with nogil:
        status = _run_blocks(p, X_ptr, block_ptr, n_blocks_, &stats[0], n_threads)
    del keep
    if status != 0:
        raise MemoryError("could not allocate per-thread scratch buffers")


# Why ``em_iterations`` returned.
cdef enum:
    REASON_CONVERGED = 0    # the last counted iteration changed the lower bound by < tol
    REASON_MAX_ITER = 1     # it ran the iterations it was allowed
    REASON_HANDOFF = 2      # the next iteration needs the Python loop (not counted)

EM_CONVERGED = REASON_CONVERGED
EM_MAX_ITER = REASON_MAX_ITER
EM_HANDOFF = REASON_HANDOFF

# em_iterations takes the GIL to check for a pending signal (Ctrl-C) at most this
# often: between iterations, and only once this much time has passed since the last
# check, so that the iterations of small data run without the GIL, beside other
# threads' Python (select's parallel fits).
cdef double SIGNAL_CHECK_SECONDS = 0.002


cdef inline double _monotonic_seconds() noexcept nogil:
    cdef timespec now
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec + 1e-9 * now.tv_nsec


def em_iterations(
    const floating[:, ::1] X,                 # IN (n_samples, n_features)
    const double[::1] sample_weight,          # IN (n_samples,) or (0,): unit weights
    int covariance_kind,                      # IN COVARIANCE_KINDS[...]
    double total_weight,                      # IN sum of the weights
    double reg_covar,                         # IN
    double dead_fraction,                     # IN see _covariance.mstep_into
    double max_shift_ratio,                   # IN hand off above this shift ratio
    double tol,                               # IN convergence threshold on the change
    Py_ssize_t max_iter,                      # IN iterations allowed (>= 0)
    double lower_bound,                       # IN lower bound before the first one
    tuple current,                            # INOUT parameter buffers, see below
    tuple following,                          # INOUT the other set
    tuple constrained,                        # IN None or the constrained M-step
    double[:, ::1] shift,                     # OUT workspace (K, n_features)
    double[:, ::1] block_stats,               # OUT workspace (n_blocks, n_stats)
    double[::1] stats,                        # OUT (n_stats,)
    double[::1] lower_bounds,                 # OUT (>= max_iter,): per iteration
    int n_threads,                            # IN
):
    """EM iterations (``em_statistics`` then the compiled M-step) in one call.

    The exact iterations of the Python loop (``_em.run_em``) on one block of rows,
    without its round trip per iteration: the statistics are taken about the current
    means (rounded to float32 for float32 ``X``), the M-step writes the other
    parameter set, and the sets swap. An iteration that the Python loop must handle
    (a non-finite log-likelihood, a component the M-step flags, a shift ratio above
    ``max_shift_ratio``) is not counted: the call returns before it, ``current``
    unchanged, and the loop redoes it from there. The iterations run without the
    GIL (they take it only to prepare the parameters of the matrix E-steps, d >=
    MATRIX_MIN_FEATURES, and to check for a pending signal, which raises between
    iterations at most ``SIGNAL_CHECK_SECONDS`` after it arrived).

    Parameters
    ----------
    current, following : tuple
        ``(weights (K,), means (K, d), covariances (flat), precisions_cholesky
        (flat), log_norm_const (K,), bad (K,))``: float64 arrays and an intp one, as
        ``_mstep.ParameterBuffers.kernel_buffers`` holds them; ``current`` holds the
        starting parameters.
    constrained : tuple or None
        ``(model_code, nk_eps, tol, max_iter)``: the constrained M-step of an mclust
        model (``_constrained.constrained_mstep_into``'s arguments) applied after
        the compiled one, as ``_mstep.ParameterBuffers.constrained_step`` gives it.
    lower_bounds : ndarray
        ``lower_bounds[i]`` receives the mean log-likelihood of iteration ``i``.

    Returns
    -------
    n_done : int
        Iterations counted (``lower_bounds[:n_done]``).
    swapped : bool
        Whether the final parameters are in ``following`` (an odd ``n_done``).
    reason : int
        ``EM_CONVERGED``, ``EM_MAX_ITER`` or ``EM_HANDOFF``.
    """
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1]
    cdef Py_ssize_t K = shift.shape[0], i, it, n_done = max_iter
    cdef Problem p
    cdef double value, ratio, change, last_check
    cdef int reason = REASON_MAX_ITER, status = 0, model = -1, mstep_max_iter = 1
    cdef double nk_eps = 0.0, mstep_tol = 0.0
    cdef bint flagged, swapped = False, python_setup
    # The two parameter sets, as views (acquired once) and as pointers.
    cdef double[::1] w0, w1, cov0, cov1, prec0, prec1, log0, log1
    cdef double[:, ::1] means0, means1
    cdef Py_ssize_t[::1] bad0, bad1
    cdef double* sets[2][5]     # weights, means, covariances, prec_chol, log_const
    cdef Py_ssize_t* bads[2]
    cdef double* w_out
    cdef double* means_out
    cdef double* cov_out
    cdef double* prec_out
    cdef double* log_out
    cdef Py_ssize_t* bad_out
    cdef const double* means_in
    cdef const double* cov_in
    cdef double* shift_ptr
    cdef int side_in, side_out
    if lower_bounds.shape[0] < max_iter:
        raise ValueError("lower_bounds must hold max_iter values")
    if shift.shape[1] != d or K < 1:
        raise ValueError("shift must have shape (n_components >= 1, n_features)")
    if constrained is not None:
        model, nk_eps, mstep_tol, mstep_max_iter = constrained
        # An axis-aligned model on the diagonal kind's (K, d) variances, the others on
        # the full kind's (K, d, d) covariances.
        if not (M_EII <= model <= M_VVV and mstep_max_iter >= 1 and covariance_kind == (
                COV_DIAG if model <= M_VVI else COV_FULL)):
            raise ValueError(f"em_iterations: constrained M-step {constrained!r} does not "
                             f"fit covariance kind {covariance_kind}")
    _fill_problem(&p, n, d, K, covariance_kind)
    _check_stats_buffers(&p, block_stats, stats)
    p.sample_weight = _weights_ptr(sample_weight, n)
    w0, means0, cov0, prec0, log0, bad0 = current
    w1, means1, cov1, prec1, log1, bad1 = following
    if (w0.shape[0] != K or w1.shape[0] != K or bad0.shape[0] != K or bad1.shape[0] != K
            or cov0.shape[0] != prec0.shape[0] or cov1.shape[0] != prec1.shape[0]
            or cov0.shape[0] != cov1.shape[0] or cov0.shape[0] == 0):
        raise ValueError("em_iterations: inconsistent parameter buffers")
    _check_parameters(&p, means0, prec0, log0)
    _check_parameters(&p, means1, prec1, log1)
    sets[0][0], sets[0][1], sets[0][2] = &w0[0], &means0[0, 0], &cov0[0]
    sets[0][3], sets[0][4], bads[0] = &prec0[0], &log0[0], &bad0[0]
    sets[1][0], sets[1][1], sets[1][2] = &w1[0], &means1[0, 0], &cov1[0]
    sets[1][3], sets[1][4], bads[1] = &prec1[0], &log1[0], &bad1[0]
    shift_ptr = &shift[0, 0]
    cdef const floating* X_ptr = &X[0, 0] if n > 0 else NULL
    cdef Py_ssize_t n_blocks_ = n_blocks(n, p.n_stats)
    cdef double* block_ptr = &block_stats[0, 0] if n_blocks_ > 0 else NULL
    dtype = np.float64 if floating is double else np.float32
    keep = None
    p.gamma_source = GAMMA_ESTEP
    p.want_stats = True
    p.shift = shift_ptr
    p.path = _choose_path(covariance_kind, d)
    # The row loop reads the parameters through p's pointers (and, tied, the
    # offsets computed here); the matrix paths need arrays made in Python
    # (_set_estep_parameters).
    python_setup = p.path != PATH_ROWS
    tied = np.empty((K if covariance_kind == COV_TIED else 1, d))
    cdef double[:, ::1] tied_view = tied
    cdef double* tied_ptr = &tied_view[0, 0]
    PyErr_CheckSignals()
    last_check = _monotonic_seconds()
    with nogil:
        for it in range(max_iter):
            if it > 0 and _monotonic_seconds() - last_check >= SIGNAL_CHECK_SECONDS:
                with gil:
                    PyErr_CheckSignals()
                last_check = _monotonic_seconds()
            side_in = 1 if swapped else 0
            side_out = 1 - side_in
            means_in, cov_in = sets[side_in][1], sets[side_in][2]
            w_out, means_out, cov_out = sets[side_out][0], sets[side_out][1], sets[side_out][2]
            prec_out, log_out, bad_out = sets[side_out][3], sets[side_out][4], bads[side_out]
            for i in range(K * d):
                if floating is double:
                    shift_ptr[i] = means_in[i]
                else:
                    shift_ptr[i] = <double> <float> means_in[i]
            p.means = means_in
            p.prec_chol = sets[side_in][3]
            p.log_const = sets[side_in][4]
            if covariance_kind == COV_TIED:
                _tied_offsets(means_in, p.prec_chol, K, d, tied_ptr)
                p.tied_offsets = tied_ptr
            if python_setup:
                with gil:
                    keep = _set_estep_parameters(
                        &p, dtype, means1 if swapped else means0,
                        prec1 if swapped else prec0, log1 if swapped else log0, shift)
            status = _run_blocks(&p, X_ptr, block_ptr, n_blocks_, &stats[0], n_threads)
            if status != 0:
                break
            value = stats[0] / total_weight
            if not isfinite(value):
                reason, n_done = REASON_HANDOFF, it
                break
            ratio = _mstep(&stats[0], shift_ptr, covariance_kind, K, d, reg_covar,
                           dead_fraction, w_out, means_out, cov_out, prec_out, log_out,
                           bad_out)
            if model >= 0:
                status = _constrained_mstep(model, &stats[0], shift_ptr, cov_in, w_out,
                                            means_out, K, d, nk_eps, mstep_tol,
                                            mstep_max_iter, cov_out, prec_out, log_out,
                                            bad_out, &ratio)
                if status != 0:
                    break
            flagged = False
            for i in range(K):
                flagged = flagged or bad_out[i] != 0
            if flagged or ratio > max_shift_ratio:
                reason, n_done = REASON_HANDOFF, it
                break
            lower_bounds[it] = value
            change = value - lower_bound
            lower_bound = value
            swapped = not swapped
            if fabs(change) < tol:
                reason, n_done = REASON_CONVERGED, it + 1
                break
    del keep
    if status != 0:
        raise MemoryError("em_iterations: out of memory for the pass or the M-step")
    return n_done, swapped, reason


def assignment_statistics(
    const floating[:, ::1] X,                 # IN (n_samples, n_features)
    const double[::1] sample_weight,          # IN (n_samples,) or (0,)
    const double[:, ::1] shift,               # IN (K, n_features): c_k
    const Py_ssize_t[::1] labels,             # IN (n_samples,) or (0,)
    const double[:, ::1] resp,                # IN (n_samples, K) or (0, K)
    int covariance_kind,                      # IN
    double[:, ::1] block_stats,               # OUT workspace
    double[::1] stats,                        # OUT (n_stats,), stats[0] is 0
    int n_threads,                            # IN
):
    """Sufficient statistics of given responsibilities (an M-step's input).

    Exactly one of ``labels`` (hard assignment; a negative label assigns the row to
    no component) and ``resp`` (soft responsibilities, rows summing to 1) is
    non-empty. Always takes the float64 row-loop path (initialization only).
    """
    cdef Problem p
    _fill_problem(&p, X.shape[0], X.shape[1], shift.shape[0], covariance_kind)
    _check_stats_buffers(&p, block_stats, stats)
    if shift.shape[1] != p.n_features:
        raise ValueError("shift must have shape (n_components, n_features)")
    p.want_stats = True
    p.sample_weight = _weights_ptr(sample_weight, p.n_samples)
    p.shift = &shift[0, 0]
    if labels.shape[0] > 0 or p.n_samples == 0 and resp.shape[0] == 0:
        if labels.shape[0] != p.n_samples:
            raise ValueError("labels must have length n_samples")
        p.gamma_source = GAMMA_LABELS
        p.labels_in = &labels[0] if p.n_samples > 0 else NULL
    else:
        if resp.shape[0] != p.n_samples or resp.shape[1] != p.n_components:
            raise ValueError("resp must have shape (n_samples, n_components)")
        p.gamma_source = GAMMA_RESP
        p.resp_in = &resp[0, 0]
    cdef const floating* X_ptr = NULL
    cdef int status
    cdef double* block_ptr = NULL
    cdef Py_ssize_t n_blocks_ = n_blocks(p.n_samples, p.n_stats)
    if p.n_samples > 0:
        X_ptr = &X[0, 0]
    if n_blocks_ > 0:
        block_ptr = &block_stats[0, 0]
    with nogil:
        status = _run_blocks(&p, X_ptr, block_ptr, n_blocks_, &stats[0], n_threads)
    if status != 0:
        raise MemoryError("could not allocate per-thread scratch buffers")


def estimate_log_prob(
    const floating[:, ::1] X,                 # IN (n_samples, n_features)
    const double[:, ::1] means,               # IN (K, n_features)
    const double[::1] precisions_cholesky,    # IN flat
    const double[::1] log_norm_const,         # IN (K,)
    int covariance_kind,                      # IN
    double[::1] log_norm,                     # OUT (n_samples,) or (0,)
    double[:, ::1] resp,                      # OUT (n_samples, K) or (0, K)
    Py_ssize_t[::1] labels,                   # OUT (n_samples,) or (0,)
    int n_threads,                            # IN
):
    """E-step only: per-row log-likelihood, responsibilities and/or labels.

    Each output is written only if it is non-empty. ``labels`` is the arg-max of
    the weighted log-probabilities (first index on ties).

    Returns
    -------
    n_nonfinite : int
        Rows whose log-likelihood is not finite (whose outputs are meaningless).
    first_nonfinite : int
        The first of them (-1 if none).
    """
    cdef Problem p
    _fill_problem(&p, X.shape[0], X.shape[1], means.shape[0], covariance_kind)
    _check_parameters(&p, means, precisions_cholesky, log_norm_const)
    cdef Py_ssize_t n = p.n_samples
    if log_norm.shape[0] not in (0, n) or labels.shape[0] not in (0, n):
        raise ValueError("log_norm and labels must have length n_samples or 0")
    if resp.shape[0] not in (0, n) or (resp.shape[0] > 0 and resp.shape[1] != p.n_components):
        raise ValueError("resp must have shape (n_samples, n_components) or (0, K)")
    p.gamma_source = GAMMA_ESTEP
    p.want_stats = False
    if n > 0:
        if log_norm.shape[0] > 0:
            p.log_norm_out = &log_norm[0]
        if resp.shape[0] > 0:
            p.resp_out = &resp[0, 0]
        if labels.shape[0] > 0:
            p.labels_out = &labels[0]
    dtype = np.float64 if floating is double else np.float32
    keep = _set_estep_parameters(&p, dtype, means, precisions_cholesky, log_norm_const,
                                 None)
    cdef const floating* X_ptr = NULL
    cdef int status
    # Per block: [count of non-finite rows, 1 + the first one], summed up below.
    p.n_stats = 2
    cdef Py_ssize_t n_blocks_ = partition_blocks(n, p.n_stats)
    nonfinite = np.zeros((max(n_blocks_, 1), p.n_stats))
    cdef double[:, ::1] nonfinite_view = nonfinite
    if n > 0:
        X_ptr = &X[0, 0]
    with nogil:
        status = _run_blocks(&p, X_ptr, &nonfinite_view[0, 0], n_blocks_, NULL, n_threads)
    del keep
    if status != 0:
        raise MemoryError("could not allocate per-thread scratch buffers")
    firsts = nonfinite[nonfinite[:, 0] > 0, 1]
    return int(nonfinite[:, 0].sum()), (int(firsts.min()) - 1 if firsts.size else -1)


def _vector_exp_floor(const double[::1] x, double[::1] out):
    """exp with the responsibility floor, as used by the kernels (for tests)."""
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        out[i] = fgmm_exp_floor(x[i])


def _vector_log(const double[::1] x, double[::1] out):
    """The kernels' log for positive normal numbers (for tests)."""
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        out[i] = fgmm_log_pos(x[i])
