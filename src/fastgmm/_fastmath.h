/*
 * Branch-free exp and log for the responsibility normalization.
 *
 * The kernels are compiled with -fno-trapping-math so that GCC may evaluate both
 * sides of the selects below (if-conversion) and vectorize the row loops.
 *
 * Written so that GCC can inline them into the row loops of _estep.pyx and
 * vectorize those loops (no libm calls, no branches: selects and integer bit
 * operations only). Accuracy is about 1 ulp on the ranges the kernels use;
 * tests/test_kernels.py checks them against numpy.
 *
 * fgmm_exp_floor(x): exp(x) for x <= 0, and exactly 0.0 when x is below
 *     FGMM_LOG_RESP_FLOOR. Responsibilities smaller than exp(-600) ~ 3e-261
 *     cannot change any sum they enter, but left alone they drift into the
 *     subnormal range, where arithmetic is many times slower.
 * fgmm_log_pos(x): log(x) for positive, normal, finite x.
 */
#ifndef FASTGMM_FASTMATH_H
#define FASTGMM_FASTMATH_H

#include <stdint.h>
#include <string.h>

#define FGMM_LOG_RESP_FLOOR (-600.0)

static inline double fgmm_bits_to_double(uint64_t b) {
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

static inline uint64_t fgmm_double_to_bits(double x) {
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static inline double fgmm_exp_floor(double x) {
    /* exp(x) = 2^k * exp(r), k = round(x / ln 2), |r| <= ln(2) / 2. */
    const double log2e = 1.4426950408889634074;
    const double ln2_hi = 6.93147180369123816490e-01; /* trailing zero bits */
    const double ln2_lo = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0;        /* 1.5 * 2^52 */
    const double xc = x < FGMM_LOG_RESP_FLOOR ? FGMM_LOG_RESP_FLOOR : x;
    const double t = xc * log2e + shifter;  /* round to nearest integer */
    const double kd = t - shifter;
    const double r = (xc - kd * ln2_hi) - kd * ln2_lo;
    /* Taylor polynomial of degree 13: truncation error < 5e-18 on |r| <= 0.347. */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* The low bits of t hold k; 2^k as a double is (k + 1023) << 52. */
    const uint64_t k = fgmm_double_to_bits(t) - fgmm_double_to_bits(shifter);
    const double scale = fgmm_bits_to_double((k + 1023u) << 52);  /* modular: k < 0 ok */
    const double e = p * scale;
    return x < FGMM_LOG_RESP_FLOOR ? 0.0 : e;
}

static inline double fgmm_log_pos(double x) {
    /* x = 2^e * m with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(z), z = (m-1)/(m+1). */
    const double ln2_hi = 6.93147180369123816490e-01;
    const double ln2_lo = 1.90821492927058770002e-10;
    const uint64_t mantissa_mask = 0x000FFFFFFFFFFFFFull;
    const uint64_t one_bits = 0x3FF0000000000000ull;
    const uint64_t two52_bits = 0x4330000000000000ull;      /* 2^52 */
    const uint64_t bits = fgmm_double_to_bits(x);
    /* The exponent field as a double without an int64 -> double conversion (which
       SSE2/AVX2 lack): place the field in the mantissa of 2^52, subtract 2^52. */
    const double field = fgmm_bits_to_double((bits >> 52) | two52_bits) - 4503599627370496.0;
    double m = fgmm_bits_to_double((bits & mantissa_mask) | one_bits); /* [1, 2) */
    const int big = m > 1.4142135623730950488;
    m = big ? 0.5 * m : m;
    const double ed = field - (big ? 1022.0 : 1023.0);
    const double z = (m - 1.0) / (m + 1.0);  /* |z| <= 0.1716 */
    const double z2 = z * z;
    /* 2 * sum_{n=0}^{11} z^(2n+1) / (2n+1): truncation error < 3e-19. */
    double s = 2.0 / 23.0;
    s = s * z2 + 2.0 / 21.0;
    s = s * z2 + 2.0 / 19.0;
    s = s * z2 + 2.0 / 17.0;
    s = s * z2 + 2.0 / 15.0;
    s = s * z2 + 2.0 / 13.0;
    s = s * z2 + 2.0 / 11.0;
    s = s * z2 + 2.0 / 9.0;
    s = s * z2 + 2.0 / 7.0;
    s = s * z2 + 2.0 / 5.0;
    s = s * z2 + 2.0 / 3.0;
    const double log_m = 2.0 * z + z * z2 * s;
    return ed * ln2_hi + (log_m + ed * ln2_lo);
}

#endif /* FASTGMM_FASTMATH_H */
