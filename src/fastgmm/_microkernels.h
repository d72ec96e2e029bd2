/*
 * Register-blocked micro-kernels for the full/tied covariance path of _estep.pyx.
 *
 * Two products dominate an EM iteration with full covariances:
 *   - the E-step's  y_i = (x_i - mu_k)^T U_k  and  ||y_i||^2  (U_k upper triangular),
 *   - the M-step statistics'  S2_k += sum_i e_i e_i^T  with e_i = sqrt(gamma_ik)(x_i - c_k).
 * The Gram matrices, and the tied model's transform (whose rows are reused), work on
 * row-major buffers with a row stride ``ld`` that is a multiple of FGMM_TILE_COLS
 * (U_k zero-padded beyond the d used columns), by tiles of FGMM_TILE_ROWS rows x
 * FGMM_TILE_VECS vectors held in registers: each step loads FGMM_TILE_ROWS broadcasts
 * and FGMM_TILE_VECS vectors for ROWS x VECS multiply-adds. The full model's norms
 * put samples in the lanes instead (fgmm_centered_upper_norms, on a transposed
 * chunk), which skips the zeros of U_k exactly.
 *
 * GCC/Clang vector extensions lower to the instruction set the file is compiled for,
 * so the same source serves the baseline (SSE2), AVX2 and AVX-512 builds; the tile
 * shape follows the register file (16 registers below AVX-512, 32 with it). Every
 * sum runs over rows in order, so results are deterministic and independent of the
 * thread count. The body is instantiated twice, for double (_d) and float (_f).
 */
#ifndef FASTGMM_MICROKERNELS_H
#define FASTGMM_MICROKERNELS_H

#include <stddef.h>

/* Tiles of FGMM_TILE_ROWS rows x FGMM_TILE_VECS vectors of accumulators, sized to the
 * register file (32 vector registers with AVX-512, 16 below) and chosen by measurement
 * (benchmarks/microkernels.c): 8 x 2 with AVX-512, 6 x 2 otherwise, for both types. */
#if defined(__AVX512F__)
#define FGMM_VECTOR_BYTES 64
#define FGMM_TILE_ROWS 8
#elif defined(__AVX__)
#define FGMM_VECTOR_BYTES 32
#define FGMM_TILE_ROWS 6
#else
#define FGMM_VECTOR_BYTES 16
#define FGMM_TILE_ROWS 6
#endif
#define FGMM_TILE_VECS 2

/* Tiles of the samples-in-lanes kernel (fgmm_centered_upper_norms): FGMM_LANE_COLS
 * columns x FGMM_LANE_VECS vectors of samples. Measured on AVX-512: 4 x 4 beat 8 x 2,
 * 8 x 3, 2 x 8, 4 x 5 and 6 x 3 at d = 16..128; on AVX2 (16 registers) 4 x 2 beat
 * 2 x 4, 4 x 3 and 8 x 1. */
#define FGMM_LANE_COLS 4
#if defined(__AVX512F__)
#define FGMM_LANE_VECS 4
#else
#define FGMM_LANE_VECS 2
#endif

/* The kernels are called once per chunk and component: never inlined into the big
 * OpenMP loop bodies, where they would lose their registers to the caller's. */
#define FGMM_KERNEL static __attribute__((noinline))

typedef double fgmm_vd __attribute__((vector_size(FGMM_VECTOR_BYTES)));
typedef float fgmm_vf __attribute__((vector_size(FGMM_VECTOR_BYTES)));
/* Unaligned variants for loads from rows whose start is not vector-aligned. */
typedef double fgmm_vd_u __attribute__((vector_size(FGMM_VECTOR_BYTES), aligned(8)));
typedef float fgmm_vf_u __attribute__((vector_size(FGMM_VECTOR_BYTES), aligned(4)));
/* Shuffle indices for each element type (same lane width). */
typedef long long fgmm_vi_d __attribute__((vector_size(FGMM_VECTOR_BYTES)));
typedef int fgmm_vi_f __attribute__((vector_size(FGMM_VECTOR_BYTES)));

/* Columns covered by one tile, per element type; row strides are multiples of it. */
#define FGMM_TILE_COLS_D (FGMM_TILE_VECS * FGMM_VECTOR_BYTES / 8)
#define FGMM_TILE_COLS_F (FGMM_TILE_VECS * FGMM_VECTOR_BYTES / 4)

static inline size_t fgmm_padded_stride_d(size_t d) {
    return (d + FGMM_TILE_COLS_D - 1) / FGMM_TILE_COLS_D * FGMM_TILE_COLS_D;
}
static inline size_t fgmm_padded_stride_f(size_t d) {
    return (d + FGMM_TILE_COLS_F - 1) / FGMM_TILE_COLS_F * FGMM_TILE_COLS_F;
}

/* Asks for the n_bytes from ``start`` to be brought towards the caches ahead of use
 * (a hint: never faults, changes no result). */
static inline void fgmm_prefetch(const void* start, size_t n_bytes) {
    const char* p = (const char*)start;
    for (size_t offset = 0; offset < n_bytes; offset += 64) __builtin_prefetch(p + offset, 0, 2);
}

/* Both moments of one feature over the rows of a chunk (the diag/spherical statistics):
 * s1 += sum_i g_i (x_i - c), s2 += sum_i g_i (x_i - c)^2, in one pass with two
 * vectors of partial sums each, combined in a fixed order (deterministic). */
static inline void fgmm_centred_moments(const double* x, double c, const double* g, size_t t,
                                        double* s1, double* s2) {
    enum { W = FGMM_VECTOR_BYTES / 8 };
    fgmm_vd a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0};
    size_t i = 0;
    for (; i + 2 * W <= t; i += 2 * W) {
        const fgmm_vd v0 = *(const fgmm_vd_u*)(x + i) - c;
        const fgmm_vd v1 = *(const fgmm_vd_u*)(x + i + W) - c;
        const fgmm_vd w0 = *(const fgmm_vd_u*)(g + i) * v0;
        const fgmm_vd w1 = *(const fgmm_vd_u*)(g + i + W) * v1;
        a1 += w0;
        b1 += w1;
        a2 += w0 * v0;
        b2 += w1 * v1;
    }
    a1 += b1;
    a2 += b2;
    double total1 = 0.0, total2 = 0.0;
    for (int u = 0; u < W; u++) {
        total1 += a1[u];
        total2 += a2[u];
    }
    for (; i < t; i++) {
        const double v = x[i] - c, w = g[i] * v;
        total1 += w;
        total2 += w * v;
    }
    *s1 += total1;
    *s2 += total2;
}

#define FGMM_T double
#define FGMM_V fgmm_vd
#define FGMM_VU fgmm_vd_u
#define FGMM_VI fgmm_vi_d
#define FGMM_LANES (FGMM_VECTOR_BYTES / 8)
#define FGMM_TR FGMM_TILE_ROWS
#define FGMM_TV FGMM_TILE_VECS
#define FGMM_NAME(name) name##_d
#include "_microkernels_body.h"
#undef FGMM_TR
#undef FGMM_TV
#undef FGMM_T
#undef FGMM_V
#undef FGMM_VU
#undef FGMM_VI
#undef FGMM_LANES
#undef FGMM_NAME

#define FGMM_T float
#define FGMM_V fgmm_vf
#define FGMM_VU fgmm_vf_u
#define FGMM_VI fgmm_vi_f
#define FGMM_LANES (FGMM_VECTOR_BYTES / 4)
#define FGMM_TR FGMM_TILE_ROWS
#define FGMM_TV FGMM_TILE_VECS
#define FGMM_NAME(name) name##_f
#include "_microkernels_body.h"
#undef FGMM_TR
#undef FGMM_TV
#undef FGMM_T
#undef FGMM_V
#undef FGMM_VU
#undef FGMM_VI
#undef FGMM_LANES
#undef FGMM_NAME

#endif /* FASTGMM_MICROKERNELS_H */
