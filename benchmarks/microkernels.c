/*
 * The micro-kernels of src/fastgmm/_microkernels.h, on their own: accuracy against a
 * plain triple loop, then throughput in GFLOP/s of useful work (GB/s for the chunk
 * transpose), for the instruction set the file is compiled for. This is how the tile
 * shapes were chosen, and why full covariances take the samples-in-lanes norms kernel
 * (the row-tiled transform serves tied covariances, which need the transformed rows).
 *
 *   cc -O3 -fno-trapping-math -ffp-contract=fast -march=x86-64-v4 \
 *      -mprefer-vector-width=512 -I src/fastgmm benchmarks/microkernels.c -o mk -lm
 *   ./mk                  # also with -march=x86-64-v3, or no -march (baseline)
 *
 * Add -fsanitize=address to check the kernels' memory accesses (the buffers are
 * sized exactly as _estep.pyx sizes them, slack included).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_microkernels.h"

#define CHUNK 256

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static size_t round_up(size_t value, size_t multiple)
{
    return (value + multiple - 1) / multiple * multiple;
}

static void* zeroed(size_t bytes)
{
    void* p = aligned_alloc(64, round_up(bytes, 64));
    memset(p, 0, round_up(bytes, 64));
    return p;
}

/* One element type: T, its kernels and its padded stride. */
#define DEFINE_CHECK(T, SUFFIX, TILE_COLS)                                                \
static double check_##SUFFIX(size_t d, int timing)                                        \
{                                                                                         \
    const size_t ld = fgmm_padded_stride_##SUFFIX(d), width = TILE_COLS;                  \
    const size_t rows = round_up(CHUNK, FGMM_TILE_ROWS), gld = ld + width;                \
    T* X = zeroed(CHUNK * d * sizeof(T));                  /* row-major chunk, stride d */ \
    T* mu = zeroed(d * sizeof(T));                                                        \
    T* U = zeroed(d * ld * sizeof(T));                                                    \
    T* work = zeroed((rows * ld + width + FGMM_TILE_ROWS) * sizeof(T));                   \
    T* Y = zeroed(rows * ld * sizeof(T));                                                 \
    T* G = zeroed(round_up(d, FGMM_TILE_ROWS) * gld * sizeof(T));                         \
    for (size_t i = 0; i < CHUNK * d; i++) X[i] = (T)(rand() / (double)RAND_MAX - 0.5);   \
    for (size_t j = 0; j < d; j++) mu[j] = (T)(0.1 * j);                                  \
    for (size_t i = 0; i < d; i++)                                                        \
        for (size_t j = i; j < d; j++) U[i * ld + j] = (T)(rand() / (double)RAND_MAX);    \
    fgmm_centered_upper_transform_##SUFFIX(X, CHUNK, d, d, mu, U, ld, work, Y);           \
    /* The lanes-over-samples kernel on the transposed chunk (CHUNK - 3 rows: a tail). */ \
    T* xt = zeroed(CHUNK * d * sizeof(T));                                                \
    T* sq_lanes = zeroed(rows * sizeof(T));                                               \
    fgmm_transpose_rows_##SUFFIX(X, CHUNK - 3, d, d, xt, CHUNK);                          \
    double e_t = 0;                                                                       \
    for (size_t i = 0; i < CHUNK; i++)                                                    \
        for (size_t j = 0; j < d; j++)                                                    \
            e_t = fmax(e_t, fabs(xt[j * CHUNK + i] - (i < CHUNK - 3 ? X[i * d + j] : 0)));  \
    fgmm_transpose_rows_##SUFFIX(X, CHUNK, d, d, xt, CHUNK);                              \
    fgmm_centered_upper_norms_##SUFFIX(xt, CHUNK, CHUNK, d, mu, U, ld, work, sq_lanes);   \
    /* E = the centred rows (row stride ld) for the Gram kernel. */                       \
    for (size_t i = 0; i < CHUNK; i++)                                                    \
        for (size_t j = 0; j < d; j++) work[i * ld + j] = X[i * d + j] - mu[j];           \
    fgmm_gram_upper_##SUFFIX(work, CHUNK, d, ld, G, gld);                                  \
    double e_sq = 0, e_y = 0, n_y = 0, e_g = 0, n_g = 0;                                  \
    for (size_t i = 0; i < CHUNK; i++) {                                                  \
        double s = 0;                                                                     \
        for (size_t j = 0; j < d; j++) {                                                  \
            double y = 0;                                                                 \
            for (size_t l = 0; l <= j; l++)                                               \
                y += ((double)X[i * d + l] - mu[l]) * U[l * ld + j];                      \
            s += y * y;                                                                   \
            e_y = fmax(e_y, fabs(y - Y[i * ld + j]));                                     \
            n_y = fmax(n_y, fabs(y));                                                     \
        }                                                                                 \
        if (s > 0) e_sq = fmax(e_sq, fabs(s - sq_lanes[i]) / s);                          \
    }                                                                                     \
    for (size_t j = 0; j < d; j++)                                                        \
        for (size_t l = j; l < d; l++) {                                                  \
            double g = 0;                                                                 \
            for (size_t i = 0; i < CHUNK; i++)                                            \
                g += ((double)X[i * d + j] - mu[j]) * ((double)X[i * d + l] - mu[l]);     \
            e_g = fmax(e_g, fabs(g - G[j * gld + l]));                                    \
            n_g = fmax(n_g, fabs(g));                                                     \
        }                                                                                 \
    /* The weighted, centred rows of every other row and their first moment. */          \
    ptrdiff_t* picked = zeroed(CHUNK * sizeof(ptrdiff_t));                                \
    T* g = zeroed(CHUNK * sizeof(T));                                                     \
    T* root = zeroed(CHUNK * sizeof(T));                                                  \
    T* E = zeroed((rows * ld + width) * sizeof(T));                                       \
    double* s1 = zeroed(d * sizeof(double));                                              \
    for (size_t q = 0; q < CHUNK / 2; q++) {                                              \
        picked[q] = (ptrdiff_t)(2 * q + 1);                                               \
        g[q] = (T)(rand() / (double)RAND_MAX);                                            \
        root[q] = (T)sqrt((double)g[q]);                                                  \
    }                                                                                     \
    fgmm_weighted_centred_rows_##SUFFIX(X, d, picked, CHUNK / 2, d, mu, g, root, E, ld, s1); \
    double e_e = 0, n_e = 0, e_s = 0, n_s = 0;                                            \
    for (size_t j = 0; j < d; j++) {                                                      \
        double total = 0;                                                                 \
        for (size_t q = 0; q < CHUNK / 2; q++) {                                          \
            const double diff = (double)X[(2 * q + 1) * d + j] - mu[j];                   \
            total += g[q] * diff;                                                         \
            e_e = fmax(e_e, fabs(E[q * ld + j] - root[q] * diff));                        \
            n_e = fmax(n_e, fabs(root[q] * diff));                                        \
        }                                                                                 \
        e_s = fmax(e_s, fabs(s1[j] - total));                                             \
        n_s = fmax(n_s, fabs(total));                                                     \
    }                                                                                     \
    free(picked); free(g); free(root); free(E); free(s1);                                 \
    double error = fmax(fmax(e_sq, e_t), fmax(e_e / n_e, e_s / n_s));                     \
    error = fmax(error,                                                                   \
                        fmax(n_y > 0 ? e_y / n_y : 0, n_g > 0 ? e_g / n_g : 0));          \
    if (timing) {                                                                         \
        const int reps = 4000;                                                            \
        double t0 = now();                                                                \
        for (int r = 0; r < reps; r++)                                                    \
            fgmm_centered_upper_transform_##SUFFIX(X, CHUNK, d, d, mu, U, ld, work, Y);   \
        double t1 = now();                                                                \
        for (int r = 0; r < reps; r++)                                                    \
            fgmm_centered_upper_norms_##SUFFIX(xt, CHUNK, CHUNK, d, mu, U, ld, work,      \
                                               sq_lanes);                                 \
        double t2 = now();                                                                \
        for (int r = 0; r < reps; r++) fgmm_gram_upper_##SUFFIX(work, CHUNK, d, ld, G, gld); \
        double t3 = now();                                                                \
        for (int r = 0; r < reps; r++)                                                    \
            fgmm_transpose_rows_##SUFFIX(X, CHUNK, d, d, xt, CHUNK);                      \
        double t4 = now(), flops = (double)CHUNK * d * (d + 1);                           \
        printf("| %s | %zu | %.1f | %.1f | %.1f | %.2f |\n", #T, d,                      \
               flops / ((t1 - t0) / reps) / 1e9, flops / ((t2 - t1) / reps) / 1e9,        \
               flops / ((t3 - t2) / reps) / 1e9,                                          \
               (double)CHUNK * d * sizeof(T) / ((t4 - t3) / reps) / 1e9);                 \
    }                                                                                     \
    free(X); free(mu); free(U); free(work); free(Y); free(G);                   \
    free(xt); free(sq_lanes);                                                             \
    return error;                                                                         \
}

DEFINE_CHECK(double, d, FGMM_TILE_COLS_D)
DEFINE_CHECK(float, f, FGMM_TILE_COLS_F)

int main(void)
{
    double error_d = 0, error_f = 0;
    srand(3);
    for (size_t d = 1; d <= 130; d++) {
        error_d = fmax(error_d, check_d(d, 0));
        error_f = fmax(error_f, check_f(d, 0));
    }
    printf("tile %d rows x %d vectors of %d bytes; max relative error, d = 1..130: "
           "double %.1e, float %.1e\n\n", FGMM_TILE_ROWS, FGMM_TILE_VECS, FGMM_VECTOR_BYTES,
           error_d, error_f);
    printf("| type | d | tied transform (rows in lanes) GFLOP/s "
           "| norms (samples in lanes) GFLOP/s "
           "| Gram GFLOP/s | transpose GB/s |\n|---|---:|---:|---:|---:|---:|\n");
    const size_t sizes[] = {16, 24, 32, 48, 64, 128};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        check_d(sizes[i], 1);
        check_f(sizes[i], 1);
    }
    return error_d < 1e-12 && error_f < 1e-5 ? 0 : 1;
}
