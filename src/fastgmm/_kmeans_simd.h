/*
 * The distance loops of the k-means kernels (_kmeans.pyx).
 *
 * Plain loops over the rows of a transposed chunk (unit stride), written so that the
 * compiler vectorizes them: _kmeans is compiled, like _estep, for baseline x86-64,
 * AVX2 and AVX-512, and _kernels.py picks the variant at import. The kernels are
 * built with -fno-math-errno, which lets the square roots vectorize too.
 */
#ifndef FASTGMM_KMEANS_SIMD_H
#define FASTGMM_KMEANS_SIMD_H

#include <math.h>
#include <stddef.h>

/* out[t * stride + i] = sum_j (xt[j * stride + i] - centers[t * d + j])^2
 * for the m transposed rows of xt (layout (d, stride)) and n_centers centres. */
static inline void fgmm_sq_distances(const double* xt, ptrdiff_t stride, ptrdiff_t m,
                                          ptrdiff_t d, const double* centers,
                                          ptrdiff_t n_centers, double* out)
{
    for (ptrdiff_t t = 0; t < n_centers; t++) {
        double* o = out + t * stride;
        const double* c = centers + t * d;
        for (ptrdiff_t i = 0; i < m; i++)
            o[i] = 0.0;
        for (ptrdiff_t j = 0; j < d; j++) {
            const double cj = c[j];
            const double* x = xt + j * stride;
            for (ptrdiff_t i = 0; i < m; i++) {
                const double v = x[i] - cj;
                o[i] += v * v;
            }
        }
    }
}

/* The all-centres search works on tiles of 2 vectors of rows x FGMM_KM_CENTRES
 * centres whose partial sums stay in registers (8 independent multiply-add chains
 * hide their latency; no accumulator goes through memory). GCC/Clang vector types
 * lower to the width of the build (AVX-512, AVX2 or SSE2). */
#if defined(__AVX512F__)
#define FGMM_KM_VBYTES 64
#elif defined(__AVX__)
#define FGMM_KM_VBYTES 32
#else
#define FGMM_KM_VBYTES 16
#endif
typedef double fgmm_kmd __attribute__((vector_size(FGMM_KM_VBYTES)));
typedef long long fgmm_kml __attribute__((vector_size(FGMM_KM_VBYTES)));
typedef double fgmm_kmd_u __attribute__((vector_size(FGMM_KM_VBYTES), aligned(8)));
#define FGMM_KM_LANES (FGMM_KM_VBYTES / 8)
#define FGMM_KM_ROWS (2 * FGMM_KM_LANES)
#define FGMM_KM_CENTRES 4

/* Keep the nearest (first on ties: strict <) and second-nearest of v for centre k. */
static inline void fgmm_update_two(fgmm_kmd v, long long k, fgmm_kmd* best, fgmm_kmd* second,
                                   fgmm_kml* arg)
{
    const fgmm_kml closer = (fgmm_kml)(v < *best);          /* all ones where closer */
    const fgmm_kml lower = (fgmm_kml)(v < *second);
    const fgmm_kml b = (fgmm_kml)*best, s = (fgmm_kml)*second, vv = (fgmm_kml)v;
    /* second = closer ? best : min(second, v) */
    const fgmm_kml s_min = (lower & vv) | (~lower & s);
    *second = (fgmm_kmd)((closer & b) | (~closer & s_min));
    *best = (fgmm_kmd)((closer & vv) | (~closer & b));
    *arg = (closer & ((fgmm_kml){0} + k)) | (~closer & *arg);
}

/* For the m transposed rows of xt: arg[i] = the nearest of the K centres (first on
 * ties), best[i] and second[i] = squared distances to the nearest and the
 * second-nearest centre (INFINITY when K == 1). xt, best, second and arg must hold
 * m rounded up to a multiple of FGMM_KM_ROWS rows (the extra rows are computed and
 * ignored). Each distance sums over the features in order, as fgmm_sq_distances. */
static inline void fgmm_nearest_two(const double* xt, ptrdiff_t stride, ptrdiff_t m, ptrdiff_t d,
                             const double* centers, ptrdiff_t K, double* best,
                             double* second, ptrdiff_t* arg)
{
    const fgmm_kmd inf = (fgmm_kmd){0} + INFINITY;
    for (ptrdiff_t ib = 0; ib < m; ib += FGMM_KM_ROWS) {
        fgmm_kmd b0 = inf, b1 = inf, s0 = inf, s1 = inf;
        fgmm_kml a0 = {0}, a1 = {0};
        ptrdiff_t k = 0;
        for (; k + FGMM_KM_CENTRES <= K; k += FGMM_KM_CENTRES) {
            fgmm_kmd acc0[FGMM_KM_CENTRES], acc1[FGMM_KM_CENTRES];
            for (int c = 0; c < FGMM_KM_CENTRES; c++) acc0[c] = acc1[c] = (fgmm_kmd){0};
            for (ptrdiff_t j = 0; j < d; j++) {
                const double* x = xt + j * stride + ib;
                const fgmm_kmd x0 = *(const fgmm_kmd_u*)x;
                const fgmm_kmd x1 = *(const fgmm_kmd_u*)(x + FGMM_KM_LANES);
                for (int c = 0; c < FGMM_KM_CENTRES; c++) {
                    const double cj = centers[(k + c) * d + j];
                    const fgmm_kmd v0 = x0 - cj, v1 = x1 - cj;
                    acc0[c] += v0 * v0;
                    acc1[c] += v1 * v1;
                }
            }
            for (int c = 0; c < FGMM_KM_CENTRES; c++) {
                fgmm_update_two(acc0[c], k + c, &b0, &s0, &a0);
                fgmm_update_two(acc1[c], k + c, &b1, &s1, &a1);
            }
        }
        for (; k < K; k++) {
            fgmm_kmd acc0 = {0}, acc1 = {0};
            for (ptrdiff_t j = 0; j < d; j++) {
                const double* x = xt + j * stride + ib;
                const double cj = centers[k * d + j];
                const fgmm_kmd v0 = *(const fgmm_kmd_u*)x - cj;
                const fgmm_kmd v1 = *(const fgmm_kmd_u*)(x + FGMM_KM_LANES) - cj;
                acc0 += v0 * v0;
                acc1 += v1 * v1;
            }
            fgmm_update_two(acc0, k, &b0, &s0, &a0);
            fgmm_update_two(acc1, k, &b1, &s1, &a1);
        }
        for (int t = 0; t < FGMM_KM_LANES; t++) {
            best[ib + t] = b0[t];
            best[ib + FGMM_KM_LANES + t] = b1[t];
            second[ib + t] = s0[t];
            second[ib + FGMM_KM_LANES + t] = s1[t];
            arg[ib + t] = (ptrdiff_t)a0[t];
            arg[ib + FGMM_KM_LANES + t] = (ptrdiff_t)a1[t];
        }
    }
}

/* k-means++: seed `index` is at squared distance dsq[i] from row i. A row it is
 * nearer to than its seed moves to it (its old seed becomes the second-nearest
 * candidate); otherwise it may lower the second-nearest distance. Branch-free. */
static inline void fgmm_add_seed(const double* dsq, ptrdiff_t m, ptrdiff_t index,
                          ptrdiff_t* labels, double* upper, double* lower)
{
    for (ptrdiff_t i = 0; i < m; i++) {
        const double dn = sqrt(dsq[i]);
        const double u = upper[i];
        const double l = lower[i];
        const int closer = dn < u;
        const double other = closer ? u : dn;
        lower[i] = other < l ? other : l;
        upper[i] = closer ? dn : u;
        labels[i] = closer ? index : labels[i];
    }
}

/* k-means++: dist[t * stride + i] <- wts[i] * min(upper[i]^2, dist[t * stride + i]),
 * row i's potential if candidate t (at squared distance dist) became a seed. */
static inline void fgmm_capped_potentials(const double* upper, const double* wts, ptrdiff_t stride,
                                   ptrdiff_t m, ptrdiff_t n_candidates, double* dist)
{
    for (ptrdiff_t t = 0; t < n_candidates; t++) {
        double* d = dist + t * stride;
        for (ptrdiff_t i = 0; i < m; i++) {
            const double usq = upper[i] * upper[i];
            d[i] = wts[i] * (d[i] < usq ? d[i] : usq);
        }
    }
}

/* Cluster statistics of the m rows of a chunk (xt: layout (d, stride); labels in
 * [0, K), K <= FGMM_KM_SUM_CLUSTERS): counts[k] += wts[i], members[k] += (wts[i] > 0)
 * and sums[k * d + j] += wts[i] * xt[j * stride + i] for the rows i of cluster k,
 * in row order: exactly the additions of the scatter loops over the rows, but with
 * the K running sums in the lanes of registers, so that consecutive rows do not wait
 * on each other through memory. Every other lane adds an exact +0.0 (a masked weight
 * times a finite x), which leaves a sum that starts at +0.0 bit-for-bit unchanged;
 * `acc += w * x` contracts into a fused multiply-add exactly where the scalar loop
 * does (builds with FMA). One pass over the rows for the counts, the members and the
 * first two features, one more for every further two. */
#if defined(__AVX2__)
#define FGMM_KM_SUM_CLUSTERS FGMM_KM_LANES    /* one register of the build's width */
#else
#define FGMM_KM_SUM_CLUSTERS 0    /* SSE2 lacks 64-bit compares: the scatter loops */
#endif
typedef fgmm_kmd fgmm_kmc;      /* K running sums, one a lane */
typedef fgmm_kml fgmm_kmcl;

static inline fgmm_kmc fgmm_kmc_gather(const double* v, ptrdiff_t step, ptrdiff_t K)
{
    fgmm_kmc r = {0};
    for (ptrdiff_t k = 0; k < K; k++) r[k] = v[k * step];
    return r;
}

static inline void fgmm_kmc_scatter(fgmm_kmc r, double* v, ptrdiff_t step, ptrdiff_t K)
{
    for (ptrdiff_t k = 0; k < K; k++) v[k * step] = r[k];
}

/* The weight of row i in the lanes of its cluster, +0.0 in the others. */
static inline fgmm_kmc fgmm_kmc_masked(double w, ptrdiff_t label)
{
    fgmm_kmcl lane;
    for (int t = 0; t < FGMM_KM_LANES; t++) lane[t] = t;
    const fgmm_kmcl hit = (fgmm_kmcl)(lane == ((fgmm_kmcl){0} + (long long)label));
    return (fgmm_kmc)(hit & (fgmm_kmcl)((fgmm_kmc){0} + w));
}

static inline void fgmm_cluster_sums(const double* xt, ptrdiff_t stride, ptrdiff_t m,
                                     ptrdiff_t d, const ptrdiff_t* labels,
                                     const double* wts, ptrdiff_t K, double* counts,
                                     double* sums, double* members)
{
    fgmm_kmc c = fgmm_kmc_gather(counts, 1, K), mb = fgmm_kmc_gather(members, 1, K);
    /* Feature 1 of a one-feature chunk: feature 0 again, never stored. */
    const double* x0 = xt;
    const double* x1 = xt + (d > 1 ? stride : 0);
    fgmm_kmc s0 = fgmm_kmc_gather(sums, d, K);
    fgmm_kmc s1 = fgmm_kmc_gather(sums + (d > 1 ? 1 : 0), d, K);
    for (ptrdiff_t i = 0; i < m; i++) {
        const fgmm_kmc w = fgmm_kmc_masked(wts[i], labels[i]);
        const fgmm_kmc one = fgmm_kmc_masked(wts[i] > 0.0 ? 1.0 : 0.0, labels[i]);
        c += w;
        mb += one;
        s0 += w * x0[i];
        s1 += w * x1[i];
    }
    fgmm_kmc_scatter(c, counts, 1, K);
    fgmm_kmc_scatter(mb, members, 1, K);
    fgmm_kmc_scatter(s0, sums, d, K);
    if (d > 1) fgmm_kmc_scatter(s1, sums + 1, d, K);
    for (ptrdiff_t j = 2; j < d; j += 2) {
        const ptrdiff_t j1 = j + 1 < d ? j + 1 : j;    /* a last odd feature: twice */
        const double* xa = xt + j * stride;
        const double* xb = xt + j1 * stride;
        fgmm_kmc sa = fgmm_kmc_gather(sums + j, d, K), sb = fgmm_kmc_gather(sums + j1, d, K);
        for (ptrdiff_t i = 0; i < m; i++) {
            const fgmm_kmc w = fgmm_kmc_masked(wts[i], labels[i]);
            sa += w * xa[i];
            sb += w * xb[i];
        }
        fgmm_kmc_scatter(sa, sums + j, d, K);
        if (j1 != j) fgmm_kmc_scatter(sb, sums + j1, d, K);
    }
}

#endif
