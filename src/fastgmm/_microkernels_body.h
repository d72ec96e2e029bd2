/*
 * Body of the micro-kernels, included by _microkernels.h once per element type with
 * FGMM_T (scalar), FGMM_V / FGMM_VU (aligned / unaligned vector), FGMM_VI (integer
 * vector of the same lane count and width, for shuffles), FGMM_LANES and
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

/* One tile of FGMM_TR rows: Y_r = D_r^T U for the rows of D (stride ld), into the rows
 * of Y (stride ld). */
static inline void FGMM_NAME(fgmm_upper_transform_tile)(
        const FGMM_T* D, size_t d, size_t ld, const FGMM_T* U, FGMM_T* Y) {
    const size_t width = FGMM_TV * FGMM_LANES;
    for (size_t jb = 0; jb < d; jb += width) {
        FGMM_V acc[FGMM_TR][FGMM_TV];
        for (int r = 0; r < FGMM_TR; r++)
            for (int c = 0; c < FGMM_TV; c++) acc[r][c] = (FGMM_V){0};
        /* Rows l < jb + LANES reach every column of the tile; past that, vector c
           only sees rows l < jb + (c + 1) * LANES (U[l, j] = 0 for l > j). */
#pragma GCC unroll 4
        for (int c = 0; c < FGMM_TV; c++)
            FGMM_NAME(fgmm_transform_segment)(
                acc, D, 0, U, ld, jb, c == 0 ? 0 : jb + c * FGMM_LANES,
                FGMM_NAME(fgmm_min)(jb + (c + 1) * FGMM_LANES, d), c);
        for (int r = 0; r < FGMM_TR; r++)
            for (int c = 0; c < FGMM_TV; c++)
                *(FGMM_VU*)(Y + r * ld + jb + c * FGMM_LANES) = acc[r][c];
    }
}

/*
 * Centred upper-triangular transform of rows of X (the tied model's E-step).
 *
 *   Y[i * ld + j] = ((X_i - mu)^T U)_j  for i < n_rows,  X with row stride x_ld,
 *   U (d, d) row-major upper triangular with row stride ld (columns d..ld-1 zero).
 *
 * Rows are centred one tile at a time into ``work`` (FGMM_TR x ld, columns d..ld-1
 * zero), which stays in L1. ``Y`` needs room for n_rows rounded up to a multiple of
 * FGMM_TR.
 */
FGMM_KERNEL void FGMM_NAME(fgmm_centered_upper_transform)(
        const FGMM_T* X, size_t n_rows, size_t d, size_t x_ld, const FGMM_T* mu,
        const FGMM_T* U, size_t ld, FGMM_T* work, FGMM_T* Y) {
    for (size_t ib = 0; ib < n_rows; ib += FGMM_TR) {
        const size_t rows = FGMM_NAME(fgmm_min)(FGMM_TR, n_rows - ib);
        for (size_t r = 0; r < rows; r++) {
            const FGMM_T* x = X + (ib + r) * x_ld;
            FGMM_T* out = work + r * ld;
            for (size_t j = 0; j < d; j++) out[j] = x[j] - mu[j];
        }
        for (size_t r = rows; r < FGMM_TR; r++)
            for (size_t j = 0; j < d; j++) work[r * ld + j] = 0;
        FGMM_NAME(fgmm_upper_transform_tile)(work, d, ld, U, Y + ib * ld);
    }
}

/* A LANES x LANES block transposed in registers: xt[c * xt_ld + r] = X[r * x_ld + c].
 * Stage b swaps the off-diagonal b x b sub-blocks of every 2b x 2b block, so log2(LANES)
 * stages of two-source shuffles transpose the whole block. */
static inline void FGMM_NAME(fgmm_transpose_block)(
        const FGMM_T* X, size_t x_ld, FGMM_T* xt, size_t xt_ld) {
#if defined(__clang__) || !defined(__GNUC__)
    /* __builtin_shuffle with a mask vector is GCC's; elsewhere, element by element. */
    for (int c = 0; c < FGMM_LANES; c++)
        for (int r = 0; r < FGMM_LANES; r++) xt[c * xt_ld + r] = X[r * x_ld + c];
#else
    FGMM_V v[FGMM_LANES];
    /* Fully unrolled, so that v stays in registers and the indices are constants. */
#pragma GCC unroll 16
    for (int r = 0; r < FGMM_LANES; r++) v[r] = *(const FGMM_VU*)(X + r * x_ld);
#pragma GCC unroll 4
    for (int b = 1; b < FGMM_LANES; b *= 2) {
        FGMM_VI keep_low, keep_high;     /* indices into the pair (v[r], v[r + b]) */
#pragma GCC unroll 16
        for (int q = 0; q < FGMM_LANES; q++) {
            keep_low[q] = (q & b) ? FGMM_LANES + q - b : q;
            keep_high[q] = (q & b) ? FGMM_LANES + q : q + b;
        }
#pragma GCC unroll 16
        for (int r = 0; r < FGMM_LANES; r++) {
            if (r & b) continue;
            const FGMM_V low = v[r], high = v[r + b];
            v[r] = __builtin_shuffle(low, high, keep_low);
            v[r + b] = __builtin_shuffle(low, high, keep_high);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < FGMM_LANES; r++) *(FGMM_VU*)(xt + r * xt_ld) = v[r];
#endif
}

/* xt[j * xt_ld + i] = X[i * x_ld + j] for i < n_rows and j < d (the chunk transposed for
 * fgmm_centered_upper_norms): whole LANES x LANES blocks in registers, the edges one
 * element at a time. */
FGMM_KERNEL void FGMM_NAME(fgmm_transpose_rows)(
        const FGMM_T* X, size_t n_rows, size_t d, size_t x_ld, FGMM_T* xt, size_t xt_ld) {
    const size_t rows_whole = n_rows / FGMM_LANES * FGMM_LANES;
    const size_t cols_whole = d / FGMM_LANES * FGMM_LANES;
    for (size_t ib = 0; ib < rows_whole; ib += FGMM_LANES)
        for (size_t jb = 0; jb < cols_whole; jb += FGMM_LANES)
            FGMM_NAME(fgmm_transpose_block)(X + ib * x_ld + jb, x_ld, xt + jb * xt_ld + ib,
                                            xt_ld);
    for (size_t j = cols_whole; j < d; j++)
        for (size_t i = 0; i < rows_whole; i++) xt[j * xt_ld + i] = X[i * x_ld + j];
    for (size_t j = 0; j < d; j++)
        for (size_t i = rows_whole; i < n_rows; i++) xt[j * xt_ld + i] = X[i * x_ld + j];
}

/*
 * Squared norms of the centred upper-triangular transform, samples in vector lanes.
 *
 *   sq[i] = ||(x_i - mu)^T U||^2  for i < n_rows,
 *
 * x_i the column i of the transposed chunk xt (d rows, row stride xt_ld), U (d, d)
 * row-major upper triangular with row stride ld, a multiple of FGMM_LANE_COLS, zero
 * beyond column d. A tile holds FGMM_LANE_VECS vectors of samples (W of them) and
 * FGMM_LANE_COLS columns of y: every multiply-add adds one U[l, j] (a broadcast) times
 * the centred feature l of W samples, so the triangle of U is skipped exactly (no
 * lane computes a structural zero, as lanes over columns must on the diagonal
 * blocks) and the norms need no horizontal sums. The W samples are centred once per
 * tile into ``work`` (d x W, 64-byte aligned). xt must be readable, and sq writable,
 * up to n_rows rounded up to W (the caller zero-fills xt's unused columns).
 */
FGMM_KERNEL void FGMM_NAME(fgmm_centered_upper_norms)(
        const FGMM_T* xt, size_t xt_ld, size_t n_rows, size_t d, const FGMM_T* mu,
        const FGMM_T* U, size_t ld, FGMM_T* work, FGMM_T* sq) {
    enum { J = FGMM_LANE_COLS, S = FGMM_LANE_VECS, W = FGMM_LANE_VECS * FGMM_LANES };
    for (size_t i0 = 0; i0 < n_rows; i0 += W) {
        for (size_t l = 0; l < d; l++) {
            const FGMM_T c = mu[l];
            for (int s = 0; s < S; s++)
                *(FGMM_V*)(work + l * W + s * FGMM_LANES) =
                    *(const FGMM_VU*)(xt + l * xt_ld + i0 + s * FGMM_LANES) - c;
        }
        FGMM_V norm[S];
        for (int s = 0; s < S; s++) norm[s] = (FGMM_V){0};
        for (size_t jb = 0; jb < d; jb += J) {
            FGMM_V acc[J][S];
            for (int r = 0; r < J; r++)
                for (int s = 0; s < S; s++) acc[r][s] = (FGMM_V){0};
            const FGMM_T* u_cols = U + jb;
            /* Features l < jb reach all J columns of the tile. */
            for (size_t l = 0; l < jb; l++) {
                FGMM_V x[S];
                for (int s = 0; s < S; s++) x[s] = *(const FGMM_V*)(work + l * W + s * FGMM_LANES);
                for (int r = 0; r < J; r++) {
                    const FGMM_T u = u_cols[l * ld + r];
                    for (int s = 0; s < S; s++) acc[r][s] += x[s] * u;
                }
            }
            /* The diagonal block: feature jb + t reaches columns jb + t and after. */
            const size_t n_diag = FGMM_NAME(fgmm_min)(J, d - jb);
            for (int t = 0; t < J; t++) {
                if ((size_t)t >= n_diag) break;
                const size_t l = jb + t;
                FGMM_V x[S];
                for (int s = 0; s < S; s++) x[s] = *(const FGMM_V*)(work + l * W + s * FGMM_LANES);
                for (int r = t; r < J; r++) {
                    const FGMM_T u = u_cols[l * ld + r];
                    for (int s = 0; s < S; s++) acc[r][s] += x[s] * u;
                }
            }
            for (int r = 0; r < J; r++)
                for (int s = 0; s < S; s++) norm[s] += acc[r][s] * acc[r][s];
        }
        for (int s = 0; s < S; s++) *(FGMM_VU*)(sq + i0 + s * FGMM_LANES) = norm[s];
    }
}

/* Columns [jb, jb + n_vecs * LANES) of fgmm_weighted_centred_rows, the sums in
 * registers. Inlined with a constant ``n_vecs``. */
static inline void FGMM_NAME(fgmm_weighted_centred_block)(
        const FGMM_T* X, size_t x_ld, const ptrdiff_t* rows, size_t t, const FGMM_T* centre,
        const FGMM_T* g, const FGMM_T* root, FGMM_T* E, size_t ld, double* s1, size_t jb,
        const int n_vecs) {
    FGMM_V acc[4], c[4];
    for (int v = 0; v < n_vecs; v++) {
        acc[v] = (FGMM_V){0};
        c[v] = *(const FGMM_VU*)(centre + jb + v * FGMM_LANES);
    }
    for (size_t q = 0; q < t; q++) {
        const FGMM_T* x = X + (rows ? (size_t)rows[q] : q) * x_ld + jb;
        FGMM_T* e = E + q * ld + jb;
        for (int v = 0; v < n_vecs; v++) {
            const FGMM_V diff = *(const FGMM_VU*)(x + v * FGMM_LANES) - c[v];
            acc[v] += g[q] * diff;
            *(FGMM_VU*)(e + v * FGMM_LANES) = root[q] * diff;
        }
    }
    for (int v = 0; v < n_vecs; v++)
        for (int u = 0; u < FGMM_LANES; u++) s1[jb + v * FGMM_LANES + u] += acc[v][u];
}

/*
 * The rows of one component for the Gram kernel, and their first moment:
 *
 *   E[q * ld + j] = root[q] (x_qj - centre_j),   s1[j] += sum_q g[q] (x_qj - centre_j)
 *
 * for q < t and j < d, x_q the row rows[q] of X (row q where rows is NULL), row stride
 * x_ld; E's columns from d on are not written. Blocks of up to four
 * vectors of columns keep the sums in registers, each summed over q in order; the
 * last d % LANES columns go one at a time.
 */
FGMM_KERNEL void FGMM_NAME(fgmm_weighted_centred_rows)(
        const FGMM_T* X, size_t x_ld, const ptrdiff_t* rows, size_t t, size_t d,
        const FGMM_T* centre, const FGMM_T* g, const FGMM_T* root, FGMM_T* E, size_t ld,
        double* s1) {
    const size_t whole = d / FGMM_LANES;
    size_t jb = 0, v = 0;
#define FGMM_BLOCK(n_vecs) FGMM_NAME(fgmm_weighted_centred_block)( \
        X, x_ld, rows, t, centre, g, root, E, ld, s1, jb, n_vecs)
    for (; v + 4 <= whole; v += 4, jb += 4 * FGMM_LANES) FGMM_BLOCK(4);
    if (whole - v == 3) FGMM_BLOCK(3);
    else if (whole - v == 2) FGMM_BLOCK(2);
    else if (whole - v == 1) FGMM_BLOCK(1);
#undef FGMM_BLOCK
    for (size_t j = whole * FGMM_LANES; j < d; j++) {
        FGMM_T total = 0;
        for (size_t q = 0; q < t; q++) {
            const FGMM_T diff = X[(rows ? (size_t)rows[q] : q) * x_ld + j] - centre[j];
            total += g[q] * diff;
            E[q * ld + j] = root[q] * diff;
        }
        s1[j] += total;
    }
}

/* One tile of the Gram kernel: rows jb..jb+TR of G, the ``n_vecs`` vectors of columns
 * from lb. Inlined with a constant ``n_vecs``, so the tile stays in registers. */
static inline void FGMM_NAME(fgmm_gram_tile)(
        const FGMM_T* E, size_t n_rows, size_t ld, size_t jb, size_t lb, FGMM_T* G,
        size_t gld, const int n_vecs) {
    FGMM_V acc[FGMM_TR][FGMM_TV];
    for (int r = 0; r < FGMM_TR; r++)
        for (int c = 0; c < n_vecs; c++) acc[r][c] = (FGMM_V){0};
    const FGMM_T* col_j = E + jb;          /* broadcasts: row i, columns jb + r */
    const FGMM_T* col_l = E + lb;          /* vectors: row i, columns lb + ... */
    for (size_t i = 0; i < n_rows; i++, col_j += ld, col_l += ld) {
        FGMM_V e[FGMM_TV];
        for (int c = 0; c < n_vecs; c++)
            e[c] = *(const FGMM_VU*)(col_l + c * FGMM_LANES);
        for (int r = 0; r < FGMM_TR; r++) {
            /* Past column d this reads padding or the next row: it only feeds
               rows j >= d of G, which callers ignore. */
            const FGMM_T x = col_j[r];
            for (int c = 0; c < n_vecs; c++) acc[r][c] += x * e[c];
        }
    }
    for (int r = 0; r < FGMM_TR; r++)
        for (int c = 0; c < n_vecs; c++)
            *(FGMM_VU*)(G + (jb + r) * gld + lb + c * FGMM_LANES) = acc[r][c];
}

/*
 * Gram matrix of the rows of E, upper part.
 *
 *   G[j * gld + l] = sum_{i < n_rows} E[i * ld + j] * E[i * ld + l]
 *
 * is written for every j < d and every l in [j, d) (and, as a by-product, for some l
 * just below j, some l >= d and some rows j >= d, which callers ignore). E has row
 * stride ld (>= d; its columns from d on may hold anything, since they only feed
 * those ignored entries) and must be readable FGMM_TV * LANES
 * elements past its last row; G has row stride gld >= ld + FGMM_TV * LANES
 * and at least round_up(d, FGMM_TR) rows. Sums run over i in order. The last tile of
 * a row band is one vector wide where one vector reaches column d - 1 (a whole tile
 * would compute vectors of padding only).
 */
FGMM_KERNEL void FGMM_NAME(fgmm_gram_upper)(
        const FGMM_T* E, size_t n_rows, size_t d, size_t ld, FGMM_T* G, size_t gld) {
    const size_t width = FGMM_TV * FGMM_LANES;
    for (size_t jb = 0; jb < d; jb += FGMM_TR) {
        /* Columns from the vector holding column jb: the tile's rows need l >= jb. */
        size_t lb = jb / FGMM_LANES * FGMM_LANES;
        for (; lb + width <= d; lb += width)
            FGMM_NAME(fgmm_gram_tile)(E, n_rows, ld, jb, lb, G, gld, FGMM_TV);
        /* The last tile: one vector where that reaches column d - 1 (a whole tile
           otherwise; with FGMM_TV = 2 that is exactly the vectors needed). */
        if (lb + FGMM_LANES >= d && lb < d)
            FGMM_NAME(fgmm_gram_tile)(E, n_rows, ld, jb, lb, G, gld, 1);
        else if (lb < d)
            FGMM_NAME(fgmm_gram_tile)(E, n_rows, ld, jb, lb, G, gld, FGMM_TV);
    }
}
