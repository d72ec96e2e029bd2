"""Fits on dask arrays and dataframes: the threaded scheduler and a real
``distributed.LocalCluster`` of 2 worker processes on loopback."""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from conftest import (assert_rel_close, at_odd_byte, init_from_params,  # noqa: E402
                      make_mixture, random_params)
from fastgmm import ConvergenceWarning, GaussianMixture  # noqa: E402

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _fit(X, covariance_type, params, n_iter=6, sample_weight=None):
    gm = GaussianMixture(params.means.shape[0], covariance_type=covariance_type, tol=0.0,
                         max_iter=n_iter, **init_from_params(params, covariance_type))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X, sample_weight=sample_weight)


def _assert_close_fits(a, b, rtol):
    for name in FITTED:
        assert_rel_close(getattr(a, name), getattr(b, name), rtol, name)
    assert_rel_close(a.lower_bounds_, b.lower_bounds_, rtol, "lower bounds")


def _assert_identical_fits(a, b):
    for name in FITTED:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.lower_bounds_ == b.lower_bounds_


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 worker processes (1 thread each) on loopback."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       silence_logs=40)
    with distributed.Client(cluster) as connected:
        yield connected
    cluster.close()


@pytest.fixture(params=["threaded", "cluster"])
def scheduler(request):
    """Run the test on dask's threaded scheduler, then on the LocalCluster."""
    if request.param == "threaded":
        import dask
        with dask.config.set(scheduler="threads"):
            yield "threaded"
    else:
        client = request.getfixturevalue("client")
        with client.as_current():
            yield "cluster"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dask_fit_equals_in_memory_fit_from_the_same_start(scheduler, covariance_type,
                                                            dtype):
    X, _ = make_mixture(6000, 3, 3, seed=1, dtype=dtype)
    w = np.random.default_rng(2).uniform(0.1, 2.0, 6000)
    params = random_params(covariance_type, 3, 3, seed=3)
    reference = _fit(X, covariance_type, params, sample_weight=w)
    dX = da.from_array(X, chunks=(1100, 3))
    fit = _fit(dX, covariance_type, params, sample_weight=da.from_array(w, chunks=2000))
    _assert_close_fits(fit, reference, 1e-10 if dtype == np.float64 else 1e-6)
    # Lazy predictions with X's chunks, equal to the in-memory ones.
    labels = fit.predict(dX)
    assert isinstance(labels, da.Array) and labels.chunks == (dX.chunks[0],)
    np.testing.assert_array_equal(labels.compute(), fit.predict(X))
    proba = fit.predict_proba(dX)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), fit.predict_proba(X), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fit.score_samples(dX).compute(), fit.score_samples(X),
                               rtol=1e-12)
    assert fit.score(dX) == pytest.approx(fit.score(X), rel=1e-12)
    assert fit.bic(dX) == pytest.approx(fit.bic(X), rel=1e-12)


def test_dask_default_fit_is_deterministic_and_reaches_the_optimum(scheduler):
    X, _ = make_mixture(30000, 2, 3, seed=4, separation=6.0)
    dX = da.from_array(X, chunks=(7000, 2))
    a = GaussianMixture(3, random_state=0, max_iter=300).fit(dX)
    b = GaussianMixture(3, random_state=0, max_iter=300).fit(dX.rechunk((7000, 2)))
    _assert_identical_fits(a, b)
    full = GaussianMixture(3, random_state=0, max_iter=300).fit(X)
    assert a.converged_ and a.lower_bound_ == pytest.approx(full.lower_bound_, abs=1e-3)


def test_dask_dataframe_of_numeric_columns(scheduler):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"width": rng.normal(size=3000),
                          "length": rng.normal(size=3000) + 6 * (rng.random(3000) < 0.5)})
    lazy = dd.from_pandas(frame, npartitions=3)
    # Started from a sample (dask) or from all rows: the same optimum, to tol.
    a = GaussianMixture(2, random_state=0, tol=1e-12, max_iter=1000).fit(lazy)
    b = GaussianMixture(2, random_state=0, tol=1e-12, max_iter=1000).fit(frame)
    assert list(a.feature_names_in_) == ["width", "length"]
    assert_rel_close(np.sort(a.means_, axis=0), np.sort(b.means_, axis=0), 1e-6, "means")
    np.testing.assert_array_equal(a.predict(lazy).compute(), a.predict(frame))
    with pytest.raises(TypeError, match="non-numeric columns"):
        GaussianMixture(2).fit(dd.from_pandas(frame.assign(tag="x"), npartitions=2))


def test_dask_input_errors_are_clear():
    X = np.random.default_rng(0).normal(size=(100, 2))
    bad = X.copy()
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        GaussianMixture(2).fit(da.from_array(bad, chunks=50))
    with pytest.raises(ValueError, match="Expected a 2-D array"):
        GaussianMixture(2).fit(da.zeros(10, chunks=5))
    with pytest.raises(ValueError, match="negative"):
        GaussianMixture(2).fit(da.from_array(X, chunks=50), sample_weight=-np.ones(100))
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="has 3 features"):
        gm.predict(da.zeros((4, 3), chunks=2))


def test_a_worker_killed_mid_fit_does_not_change_the_result(client):
    """Dask recomputes the statistics a lost worker held: the fit finishes with the
    same bits as an undisturbed one (the chunks and the reduction tree fix every
    sum)."""
    X, _ = make_mixture(200000, 2, 4, seed=6, separation=1.5)
    params = random_params("full", 4, 2, seed=7)
    with client.as_current():
        dX = da.from_array(X, chunks=(20000, 2)).persist()
        distributed.wait(dX)
        undisturbed = _fit(dX, "full", params, n_iter=60)
        result = {}

        def fit_in_background():
            result["fit"] = _fit(dX, "full", params, n_iter=60)
            result["done"] = time.monotonic()

        victim = sorted(client.scheduler_info()["workers"])[0]
        pid = client.run(os.getpid, workers=[victim])[victim]
        thread = threading.Thread(target=fit_in_background)
        thread.start()
        time.sleep(1.0)
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)          # the nanny starts a new worker
        thread.join(timeout=240)
        assert not thread.is_alive(), "the fit did not finish after a worker died"
    assert result["done"] > killed, "the worker died after the fit ended: nothing tested"
    _assert_identical_fits(result["fit"], undisturbed)


def test_dask_rows_beyond_float64_score_minus_inf_as_in_memory():
    """A row whose density underflows: -inf and the nearest label, lazily too."""
    X = np.random.default_rng(3).normal(size=(200, 2))
    gm = GaussianMixture(2, random_state=0).fit(X)
    far = np.vstack([X[:5], [[1e200, 0.0]], X[5:10]])
    dX = da.from_array(far, chunks=4)
    scores = gm.score_samples(dX).compute()
    np.testing.assert_array_equal(scores, gm.score_samples(far))
    assert scores[5] == -np.inf and np.isfinite(np.delete(scores, 5)).all()
    np.testing.assert_array_equal(gm.predict(dX).compute(), gm.predict(far))
    np.testing.assert_array_equal(gm.predict_proba(dX).compute(), gm.predict_proba(far))


def test_tasks_hand_the_kernels_aligned_chunks_weights_and_parameters():
    """Chunks, weights and the problem's arrays unpickled in a worker can start at
    any byte; the tasks give the kernels aligned copies (they read whole values),
    equal to the originals."""
    from fastgmm import dask as fastgmm_dask
    from fastgmm._passes import EStepProblem
    rng = np.random.default_rng(0)
    X, w, means = rng.normal(size=(7, 3)), rng.uniform(size=7), rng.normal(size=(2, 3))
    problem = EStepProblem(0, at_odd_byte(means), at_odd_byte(np.ones(18)),
                           np.zeros(2), None, 2)
    seen = []

    def block_function(X_b, w_b, problem_b, out, scratch):
        seen.append((X_b, w_b, problem_b))
        out[:] = 0.0

    fastgmm_dask._reduce_task(at_odd_byte(X), at_odd_byte(w), block_function, problem, 1)
    X_b, w_b, problem_b = seen[0]
    for got, want in [(X_b, X), (w_b, w), (problem_b.means, means),
                      (problem_b.precisions_cholesky, np.ones(18))]:
        assert got.flags.aligned and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
