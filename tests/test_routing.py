"""sample_weight through scikit-learn's model selection, with metadata routing on
(``set_fit_request`` / ``set_score_request``) and off (plain fit parameters)."""

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.model_selection import GridSearchCV, KFold, cross_validate  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from conftest import make_mixture  # noqa: E402
from fastgmm import GaussianMixture  # noqa: E402


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def _data():
    X, _ = make_mixture(240, 2, 2, seed=3)
    # Weights that matter: the first half counts ten times as much.
    weights = np.where(np.arange(240) < 120, 10.0, 1.0)
    return X, weights


def _gm(**params):
    return GaussianMixture(2, random_state=0, n_threads=1, **params)


def test_requests_are_recorded_and_survive_clone(routing):
    gm = _gm().set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
    routing_info = gm.get_metadata_routing()
    assert routing_info.fit.requests == {"sample_weight": True}
    assert routing_info.score.requests == {"sample_weight": False}
    assert sklearn.base.clone(gm).get_metadata_routing().fit.requests == {
        "sample_weight": True}
    assert _gm().get_metadata_routing().fit.requests == {"sample_weight": None}


def test_set_request_needs_routing_enabled():
    with sklearn.config_context(enable_metadata_routing=False):
        with pytest.raises(RuntimeError, match="enable_metadata_routing=True"):
            _gm().set_fit_request(sample_weight=True)


def test_grid_search_routes_sample_weight_to_fit_and_score(routing):
    X, w = _data()
    cv = KFold(3, shuffle=True, random_state=0)
    routed = GridSearchCV(
        _gm().set_fit_request(sample_weight=True).set_score_request(sample_weight=True),
        {"covariance_type": ["full", "diag"]}, cv=cv).fit(X, sample_weight=w)
    # The same search by hand: weighted fits, weighted scores.
    for index, covariance_type in enumerate(["full", "diag"]):
        scores = []
        for train, test in cv.split(X):
            gm = _gm(covariance_type=covariance_type).fit(X[train], sample_weight=w[train])
            scores.append(gm.score(X[test], sample_weight=w[test]))
        np.testing.assert_allclose(routed.cv_results_["mean_test_score"][index],
                                   np.mean(scores), rtol=1e-12)
    best = _gm(**routed.best_params_).fit(X, sample_weight=w)
    np.testing.assert_array_equal(routed.best_estimator_.means_, best.means_)


def test_unrequested_sample_weight_is_refused(routing):
    X, w = _data()
    with pytest.raises(sklearn.exceptions.UnsetMetadataPassedError):
        GridSearchCV(_gm(), {"n_components": [1, 2]}, cv=2).fit(X, sample_weight=w)


def test_pipeline_and_cross_validate_route_sample_weight(routing):
    X, w = _data()
    pipe = Pipeline([("scale", StandardScaler().set_fit_request(sample_weight=False)),
                     ("gm", _gm().set_fit_request(sample_weight=True))])
    pipe.fit(X, sample_weight=w)
    Xs = StandardScaler().fit_transform(X)
    np.testing.assert_array_equal(pipe[-1].means_, _gm().fit(Xs, sample_weight=w).means_)
    gm = _gm().set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
    result = cross_validate(gm, X, cv=2,
                            params={"sample_weight": w}, return_estimator=True)
    for gm, (train, _) in zip(result["estimator"], KFold(2).split(X)):
        np.testing.assert_array_equal(
            gm.means_, _gm().fit(X[train], sample_weight=w[train]).means_)


def test_routing_off_passes_sample_weight_as_fit_parameter():
    X, w = _data()
    with sklearn.config_context(enable_metadata_routing=False):
        search = GridSearchCV(_gm(), {"covariance_type": ["full", "diag"]}, cv=2)
        search.fit(X, sample_weight=w)
        best = _gm(**search.best_params_).fit(X, sample_weight=w)
        np.testing.assert_array_equal(search.best_estimator_.means_, best.means_)
        pipe = Pipeline([("gm", _gm())]).fit(X, gm__sample_weight=w)
        np.testing.assert_array_equal(pipe[-1].means_, _gm().fit(X, sample_weight=w).means_)
        unweighted = _gm().fit(X).means_
        assert not np.array_equal(pipe[-1].means_, unweighted)
