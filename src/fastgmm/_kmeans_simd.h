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

/* For the m transposed rows of xt: arg[i] = the nearest of the K centres (first on
 * ties), best[i] and second[i] = squared distances to the nearest and the
 * second-nearest centre (INFINITY when K == 1). acc: scratch of m doubles. */
static inline void fgmm_nearest_two(const double* xt, ptrdiff_t stride, ptrdiff_t m, ptrdiff_t d,
                             const double* centers, ptrdiff_t K, double* acc, double* best,
                             double* second, ptrdiff_t* arg)
{
    for (ptrdiff_t i = 0; i < m; i++) {
        best[i] = INFINITY;
        second[i] = INFINITY;
        arg[i] = 0;
    }
    for (ptrdiff_t k = 0; k < K; k++) {
        fgmm_sq_distances(xt, stride, m, d, centers + k * d, 1, acc);
        for (ptrdiff_t i = 0; i < m; i++) {
            const double v = acc[i];
            const int closer = v < best[i];
            const double b = best[i];
            second[i] = closer ? b : (v < second[i] ? v : second[i]);
            best[i] = closer ? v : b;
            arg[i] = closer ? k : arg[i];
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

#endif
