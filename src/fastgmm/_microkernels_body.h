/*
 * Body of the micro-kernels, included by _microkernels.h once per element type with
 * FGMM_T (scalar), FGMM_V / FGMM_VU (aligned / unaligned vector), FGMM_LANES and
 * FGMM_NAME(name) and the tile shape FGMM_TR x FGMM_TV defined. No include guard on
 * purpose.
 */

/* acc[r][c] += D[ib + r, l] * U[l, jb + c * LANES ...] for l in [l_begin, l_end), for the
 * vectors c >= first only (the others are zero there: U is upper triangular). Inlined
 * with a constant ``first``, so the tile stays in registers. */
static inline void FGMM_NAME(fgmm_transform_segment)(
        FGMM_V acc[FGMM_TR][FGMM_TV], const FGMM_T* D, size_t ib,
        const FGMM_T* U, size_t ld, size_t jb, size_t l_begin, size_t l_end,
        const int first) {
    for (size_t l = l_begin; l < l_end; l++) {
        const FGMM_T* u_row = U + l * ld + jb;
        FGMM_V u[FGMM_TV];
        for (int c = first; c < FGMM_TV; c++)
            u[c] = *(const FGMM_VU*)(u_row + c * FGMM_LANES);
        for (int r = 0; r < FGMM_TR; r++) {
            const FGMM_T x = D[(ib + r) * ld + l];
            for (int c = first; c < FGMM_TV; c++) acc[r][c] += x * u[c];
        }
    }
}

static inline size_t FGMM_NAME(fgmm_min)(size_t a, size_t b) { return a < b ? a : b; }

/* One tile of FGMM_TR rows: y_r = D_r^T U for the rows of D (stride ld); squared
 * norms into sq[0..TR) and/or the rows into Y (stride ld) when non-NULL. */
static inline void FGMM_NAME(fgmm_upper_transform_tile)(
        const FGMM_T* D, size_t d, size_t ld, const FGMM_T* U, FGMM_T* sq, FGMM_T* Y) {
    const size_t width = FGMM_TV * FGMM_LANES;
    FGMM_V norm[FGMM_TR];
    for (int r = 0; r < FGMM_TR; r++) norm[r] = (FGMM_V){0};
    for (size_t jb = 0; jb < d; jb += width) {
        FGMM_V acc[FGMM_TR][FGMM_TV];
        for (int r = 0; r < FGMM_TR; r++)
            for (int c = 0; c < FGMM_TV; c++) acc[r][c] = (FGMM_V){0};
        /* Rows l < jb + LANES reach every column of the tile; past that, vector c
           only sees rows l < jb + (c + 1) * LANES (U[l, j] = 0 for l > j). */
        FGMM_NAME(fgmm_transform_segment)(
            acc, D, 0, U, ld, jb, 0, FGMM_NAME(fgmm_min)(jb + FGMM_LANES, d), 0);
#if FGMM_TV > 1
        FGMM_NAME(fgmm_transform_segment)(
            acc, D, 0, U, ld, jb, jb + FGMM_LANES,
            FGMM_NAME(fgmm_min)(jb + 2 * FGMM_LANES, d), 1);
#endif
#if FGMM_TV > 2
        FGMM_NAME(fgmm_transform_segment)(
            acc, D, 0, U, ld, jb, jb + 2 * FGMM_LANES,
            FGMM_NAME(fgmm_min)(jb + 3 * FGMM_LANES, d), 2);
#endif
        if (Y != NULL) {
            for (int r = 0; r < FGMM_TR; r++)
                for (int c = 0; c < FGMM_TV; c++)
                    *(FGMM_VU*)(Y + r * ld + jb + c * FGMM_LANES) = acc[r][c];
        }
        for (int r = 0; r < FGMM_TR; r++)
            for (int c = 0; c < FGMM_TV; c++) norm[r] += acc[r][c] * acc[r][c];
    }
    if (sq != NULL) {
        for (int r = 0; r < FGMM_TR; r++) {
            FGMM_T total = 0;
            for (int t = 0; t < FGMM_LANES; t++) total += norm[r][t];
            sq[r] = total;
        }
    }
}

/*
 * Centred upper-triangular transform of rows of X.
 *
 *   y_i = (X_i - mu)^T U  for i < n_rows,  X with row stride x_ld, U (d, d) row-major
 *   upper triangular with row stride ld (columns d..ld-1 zero).
 *
 * Rows are centred one tile at a time into ``work`` (FGMM_TR x ld, columns d..ld-1
 * zero), which stays in L1. With ``sq`` non-NULL, sq[i] = ||y_i||^2; with ``Y``
 * non-NULL, Y[i * ld + j] = y_ij. ``sq`` and ``Y`` need room for n_rows rounded up to
 * a multiple of FGMM_TR.
 */
FGMM_KERNEL void FGMM_NAME(fgmm_centered_upper_transform)(
        const FGMM_T* X, size_t n_rows, size_t d, size_t x_ld, const FGMM_T* mu,
        const FGMM_T* U, size_t ld, FGMM_T* work, FGMM_T* sq, FGMM_T* Y) {
    for (size_t ib = 0; ib < n_rows; ib += FGMM_TR) {
        const size_t rows = FGMM_NAME(fgmm_min)(FGMM_TR, n_rows - ib);
        for (size_t r = 0; r < rows; r++) {
            const FGMM_T* x = X + (ib + r) * x_ld;
            FGMM_T* out = work + r * ld;
            for (size_t j = 0; j < d; j++) out[j] = x[j] - mu[j];
        }
        for (size_t r = rows; r < FGMM_TR; r++)
            for (size_t j = 0; j < d; j++) work[r * ld + j] = 0;
        FGMM_NAME(fgmm_upper_transform_tile)(work, d, ld, U, sq ? sq + ib : NULL,
                                             Y ? Y + ib * ld : NULL);
    }
}

/*
 * Gram matrix of the rows of E, upper part.
 *
 *   G[j * gld + l] = sum_{i < n_rows} E[i * ld + j] * E[i * ld + l]
 *
 * is written for every j < d and every l in [j, d) (and, as a by-product, for some l
 * just below j, some l >= d and some rows j >= d, which callers ignore). E has row
 * stride ld (>= d, zero beyond d) and must be readable FGMM_TV * LANES
 * elements past its last row; G has row stride gld >= ld + FGMM_TV * LANES
 * and at least round_up(d, FGMM_TR) rows. Sums run over i in order.
 */
FGMM_KERNEL void FGMM_NAME(fgmm_gram_upper)(
        const FGMM_T* E, size_t n_rows, size_t d, size_t ld, FGMM_T* G, size_t gld) {
    const size_t width = FGMM_TV * FGMM_LANES;
    for (size_t jb = 0; jb < d; jb += FGMM_TR) {
        /* Columns from the vector holding column jb: the tile's rows need l >= jb. */
        for (size_t lb = jb / FGMM_LANES * FGMM_LANES; lb < d; lb += width) {
            FGMM_V acc[FGMM_TR][FGMM_TV];
            for (int r = 0; r < FGMM_TR; r++)
                for (int c = 0; c < FGMM_TV; c++) acc[r][c] = (FGMM_V){0};
            const FGMM_T* col_j = E + jb;          /* broadcasts: row i, columns jb + r */
            const FGMM_T* col_l = E + lb;          /* vectors: row i, columns lb + ... */
            for (size_t i = 0; i < n_rows; i++, col_j += ld, col_l += ld) {
                FGMM_V e[FGMM_TV];
                for (int c = 0; c < FGMM_TV; c++)
                    e[c] = *(const FGMM_VU*)(col_l + c * FGMM_LANES);
                for (int r = 0; r < FGMM_TR; r++) {
                    /* Past column d this reads padding or the next row: it only feeds
                       rows j >= d of G, which callers ignore. */
                    const FGMM_T x = col_j[r];
                    for (int c = 0; c < FGMM_TV; c++) acc[r][c] += x * e[c];
                }
            }
            for (int r = 0; r < FGMM_TR; r++)
                for (int c = 0; c < FGMM_TV; c++)
                    *(FGMM_VU*)(G + (jb + r) * gld + lb + c * FGMM_LANES) = acc[r][c];
        }
    }
}
