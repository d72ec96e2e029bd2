"""Which x86-64 instruction-set levels this CPU (and its OS) supports."""

cdef extern from *:
    """
    #if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
    static int fastgmm_cpu_level(void) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")
            && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2")
            && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
            return 2;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
            && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2")
            && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("movbe"))
            return 1;
        return 0;
    }
    #else
    static int fastgmm_cpu_level(void) { return 0; }
    #endif
    """
    int fastgmm_cpu_level() noexcept nogil


def cpu_level():
    """0: baseline x86-64 (or another architecture), 1: x86-64-v3 (AVX2, FMA),
    2: x86-64-v4 (AVX-512)."""
    return fastgmm_cpu_level()
