# The fixed row partition shared by every chunked kernel, and the small
# deterministic reductions they use.
#
# Rows are cut into chunks of CHUNK_SIZE rows, chunks into at most MAX_BLOCKS
# contiguous blocks. The partition depends only on the problem's shape, never on
# the thread count; a block's rows are processed in order by one thread, and block
# results are combined in block order, so every result is bit-identical for any
# number of threads.

from cython.parallel cimport prange


cdef enum:
    CHUNK_SIZE = 256   # rows per chunk
    MAX_BLOCKS = 64    # blocks of the fixed partition
    LANES = 8          # partial sums per reduction (combined in a fixed order)
    # Bytes the per-block buffers may take together: a problem with a very large
    # statistics vector (big d and K, full covariance) gets fewer blocks.
    BLOCK_MEMORY_BUDGET = 256 * 1024 * 1024
    # Work (multiply-adds) below which one more thread costs more than it saves
    # (about 20 microseconds of it).
    MIN_WORK_PER_THREAD = 100000


cdef inline Py_ssize_t n_chunks_of(Py_ssize_t n_samples) noexcept nogil:
    return (n_samples + CHUNK_SIZE - 1) // CHUNK_SIZE


cdef inline Py_ssize_t partition_blocks(Py_ssize_t n_samples,
                                        Py_ssize_t block_doubles) noexcept nogil:
    """Number of blocks: at most one per chunk, MAX_BLOCKS, and what
    BLOCK_MEMORY_BUDGET allows for per-block buffers of ``block_doubles`` doubles."""
    cdef Py_ssize_t n_chunks = n_chunks_of(n_samples)
    cdef Py_ssize_t cap = BLOCK_MEMORY_BUDGET // (8 * block_doubles if block_doubles > 0
                                                  else 8)
    if cap < 1:
        cap = 1
    if n_chunks < cap:
        cap = n_chunks
    return cap if cap < MAX_BLOCKS else MAX_BLOCKS


cdef inline int useful_threads(int n_threads, Py_ssize_t n_blocks,
                               Py_ssize_t work) noexcept nogil:
    """Threads worth starting for ``work`` multiply-adds over ``n_blocks`` blocks: at
    most one per block and one per MIN_WORK_PER_THREAD of work, at least one. The
    thread count never changes a result."""
    cdef Py_ssize_t count = n_threads if n_threads > 1 else 1
    if count > n_blocks:
        count = n_blocks
    if count > work // MIN_WORK_PER_THREAD:
        count = work // MIN_WORK_PER_THREAD
    return <int> (count if count > 1 else 1)


cdef inline Py_ssize_t block_first_chunk(Py_ssize_t block, Py_ssize_t n_chunks,
                                         Py_ssize_t n_blocks) noexcept nogil:
    """First chunk of ``block``; block b covers [first(b), first(b + 1))."""
    return block * n_chunks // n_blocks


cdef inline void ordered_block_sum(const double* block_buffers, Py_ssize_t n_blocks,
                                   Py_ssize_t length, double* out,
                                   int n_threads) noexcept nogil:
    """out[q] = sum_b block_buffers[b, q], b ascending (parallel over q)."""
    cdef Py_ssize_t q, b
    cdef double acc
    if length * n_blocks < 32768:
        n_threads = 1
    for q in prange(length, schedule='static', num_threads=n_threads):
        acc = 0.0
        for b in range(n_blocks):
            acc = acc + block_buffers[b * length + q]
        out[q] = acc


cdef inline double lane_dot(const double* a, const double* b, Py_ssize_t m) noexcept nogil:
    """sum_i a[i] b[i] in float64, LANES partial sums combined in a fixed order."""
    cdef double acc[LANES]
    cdef Py_ssize_t i, t, blk
    cdef Py_ssize_t m_lanes = m - m % LANES
    cdef double total
    for t in range(LANES):
        acc[t] = 0.0
    for blk in range(m_lanes // LANES):
        i = blk * LANES
        for t in range(LANES):
            acc[t] += a[i + t] * b[i + t]
    total = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
    for i in range(m_lanes, m):
        total += a[i] * b[i]
    return total


cdef inline double lane_sum(const double* a, Py_ssize_t m) noexcept nogil:
    """sum_i a[i] with LANES partial sums combined in a fixed order."""
    cdef double acc[LANES]
    cdef Py_ssize_t i, t, blk
    cdef Py_ssize_t m_lanes = m - m % LANES
    cdef double total
    for t in range(LANES):
        acc[t] = 0.0
    for blk in range(m_lanes // LANES):
        i = blk * LANES
        for t in range(LANES):
            acc[t] += a[i + t]
    total = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
    for i in range(m_lanes, m):
        total += a[i]
    return total



cdef inline Py_ssize_t block_first_row(Py_ssize_t block, Py_ssize_t n_samples,
                                       Py_ssize_t n_blocks) noexcept nogil:
    """First row of ``block``: block b holds rows [first_row(b), first_row(b + 1)),
    whole chunks in order (the last chunk of the data may be short)."""
    cdef Py_ssize_t row = block_first_chunk(block, n_chunks_of(n_samples), n_blocks) * CHUNK_SIZE
    return row if row < n_samples else n_samples
