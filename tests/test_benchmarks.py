"""The benchmark's numpy EM computes the same iteration as the reference (so the
comparison in benchmarks/compare.py is between equal computations)."""

import sys
from pathlib import Path

import pytest

import _reference as ref
from conftest import COVARIANCE_TYPES, assert_rel_close, make_mixture, random_params

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
numpy_em = pytest.importorskip("numpy_em")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_numpy_em_matches_reference(covariance_type):
    X, _ = make_mixture(1500, 3, 3, seed=1)
    params = random_params(covariance_type, 3, 3, seed=2)
    (w, m, c), bounds = numpy_em.fit(X, params.weights, params.means, params.covariances,
                                     covariance_type, 6)
    (ew, em_, ec), ebounds = ref.em(X, params.weights, params.means, params.covariances,
                                    covariance_type, 6)
    assert_rel_close(w, ew, 1e-9, "weights")
    assert_rel_close(m, em_, 1e-9, "means")
    assert_rel_close(c, ec, 1e-9, "covariances")
    assert_rel_close(bounds, ebounds, 1e-9, "lower bounds")
