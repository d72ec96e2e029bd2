"""scikit-learn's own estimator checks (``parametrize_with_checks``) on GaussianMixture.

Small estimators (few components, few iterations) keep the checks fast; each
covariance type is checked, since each has its own kernels and M-step.
"""

import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastgmm import GaussianMixture  # noqa: E402

ESTIMATORS = [
    GaussianMixture(n_components=2, covariance_type=covariance_type, max_iter=20,
                    random_state=0, n_threads=1)
    for covariance_type in ("full", "tied", "diag", "spherical")
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
