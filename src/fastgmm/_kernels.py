"""The compiled kernels, in the fastest variant this CPU runs.

The hot kernels are compiled from one source several times: for any x86-64 CPU
(``baseline``), for x86-64-v3 (``avx2``: AVX2 and FMA) and for x86-64-v4
(``avx512``), and the best variant the CPU supports is chosen once, at import. The
baseline alone is built on other architectures, with ``-Dcpu_dispatch=false``, or
with ``-Dnative=true`` (which compiles it for the build machine's CPU instead).

Set the environment variable ``FASTGMM_KERNELS`` to ``baseline``, ``avx2`` or
``avx512`` before importing fastgmm to force a variant. Every variant computes the
same results up to rounding (the AVX2/AVX-512 ones contract multiply-adds into FMA
instructions); within one variant, results are bit-identical for any thread count.
"""

import importlib
import os

from ._cpu import cpu_level
from ._validation import COVARIANCE_TYPES, covariance_storage

_SUFFIX = {"baseline": "", "avx2": "_avx2", "avx512": "_avx512"}
_LEVEL = {"baseline": 0, "avx2": 1, "avx512": 2}


def _built(variant, module="_estep"):
    try:
        importlib.import_module(f"fastgmm.{module}{_SUFFIX[variant]}")
    except ImportError:
        return False
    return True


def available_variants():
    """Kernel variants that are both built and supported by this CPU, slowest first."""
    level = cpu_level()
    return [v for v in _SUFFIX if _LEVEL[v] <= level and _built(v)]


def variant_module(variant, module="_estep"):
    """The kernel module ``module`` compiled for ``variant``."""
    if variant not in _SUFFIX:
        raise ValueError(f"unknown kernel variant {variant!r}; choose one of "
                         f"{', '.join(_SUFFIX)}")
    if variant not in available_variants():
        raise ValueError(f"kernel variant {variant!r} is not available here (built and "
                         f"supported: {', '.join(available_variants())})")
    return importlib.import_module(f"fastgmm.{module}{_SUFFIX[variant]}")


def _select():
    forced = os.environ.get("FASTGMM_KERNELS", "").strip().lower()
    if forced:
        try:
            variant_module(forced)      # validates the name and its availability
        except ValueError as exc:
            raise ValueError(
                f"environment variable FASTGMM_KERNELS={os.environ['FASTGMM_KERNELS']!r} "
                f"is invalid: {exc}. Set it to a variant available here "
                f"({', '.join(available_variants())}), or unset it to use the fastest "
                "one this CPU supports."
            ) from None
        return forced
    return available_variants()[-1]


selected_variant = _select()
estep = variant_module(selected_variant)
kmeans = variant_module(selected_variant, "_kmeans")

# Every covariance type runs on the kernel kind of its storage (``_validation``):
# mclust's axis-aligned models on "diag", its other models on "full" (their M-steps
# need each component's own scatter matrix, which the "tied" kind pools).
COVARIANCE_KINDS = {name: estep.COVARIANCE_KINDS[covariance_storage(name)]
                    for name in COVARIANCE_TYPES}
assignment_statistics = estep.assignment_statistics
chunk_size = estep.chunk_size
em_statistics = estep.em_statistics
em_iterations = estep.em_iterations
EM_CONVERGED, EM_HANDOFF = estep.EM_CONVERGED, estep.EM_HANDOFF
estimate_log_prob = estep.estimate_log_prob
n_blocks = estep.n_blocks


def n_statistics(covariance_type, n_components, n_features):
    """Length of the flat statistics vector of ``covariance_type`` (``_estep``)."""
    return estep.n_statistics(covariance_storage(covariance_type), n_components,
                              n_features)


def matrix_path(covariance_type, n_features):
    """The compute path of the E-step: "rows", "blas" or "micro" (``_estep``)."""
    return estep.matrix_path(covariance_storage(covariance_type), n_features)


def uses_blas(covariance_type, n_features):
    """Whether the E-step calls BLAS (then keep BLAS single-threaded)."""
    return estep.uses_blas(covariance_storage(covariance_type), n_features)
