"""oneDAL's ``em_gmm`` (through daal4py) as a child process of the benchmarks.

Runs in its own virtualenv (daal4py 2024.7 needs numpy < 2), started by
``benchmarks/onedal.py``: one JSON request per line on stdin, one JSON answer per
line on stdout. Data and initial parameters come by ``.npz`` file. Times are taken
here, around the oneDAL calls alone, so that the pipe and the process start never
enter them.

Requests::

    {"op": "load", "key": k, "path": p}             X from p["X"]
    {"op": "fit", "key": k, "start": p, "covariance_type": t, "n_iter": n,
     "tol": tol}                                      em_gmm from the start in p
    {"op": "default_fit", "key": k, "n_components": K, "covariance_type": t,
     "tol": tol, "max_iter": m, "seed": s}            em_gmm_init, then em_gmm
    {"op": "quit"}

``tol`` is on the mean log-likelihood, as in fastgmm and scikit-learn; oneDAL's
``accuracyThreshold`` is on the total, so it is given ``tol * n_samples``.
Answers: ``{"seconds", "n_iter", "mean_log_likelihood", "means"}`` or
``{"error": message}``.
"""

import json
import sys
import time

import numpy as np

_STORAGE = {"full": "full", "diag": "diagonal"}


def _covariance_list(covariances, covariance_type):
    if covariance_type == "full":
        return [np.ascontiguousarray(c) for c in covariances]
    return [np.ascontiguousarray(c[None, :]) for c in covariances]


def _answer(result, n_samples, seconds):
    return {"seconds": seconds, "n_iter": int(np.asarray(result.nIterations).ravel()[0]),
            "mean_log_likelihood": float(np.asarray(result.goalFunction).ravel()[0])
            / n_samples, "means": np.asarray(result.means).tolist()}


def main():
    import daal4py

    n_threads = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if n_threads > 0:
        daal4py.daalinit(n_threads)
    data, starts = {}, {}
    print(json.dumps({"ready": True, "threads": daal4py.num_threads()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "quit":
            break
        try:
            if op == "load":
                data[request["key"]] = np.ascontiguousarray(np.load(request["path"])["X"],
                                                            dtype=np.float64)
                answer = {"loaded": True}
            elif op == "fit":
                X = data[request["key"]]
                path = request["start"]
                if path not in starts:
                    with np.load(path) as f:
                        starts[path] = (np.ascontiguousarray(f["weights"][None, :]),
                                        np.ascontiguousarray(f["means"]),
                                        f["covariances"])
                weights, means, covariances = starts[path]
                kind = request["covariance_type"]
                algorithm = daal4py.em_gmm(
                    nComponents=means.shape[0], maxIterations=int(request["n_iter"]),
                    accuracyThreshold=float(request["tol"]) * X.shape[0],
                    covarianceStorage=_STORAGE[kind])
                inputs = _covariance_list(covariances, kind)
                t0 = time.perf_counter()
                result = algorithm.compute(X, weights, means, inputs)
                answer = _answer(result, X.shape[0], time.perf_counter() - t0)
            elif op == "default_fit":
                X = data[request["key"]]
                K, kind = int(request["n_components"]), request["covariance_type"]
                engine = daal4py.engines_mt19937(seed=int(request["seed"]))
                t0 = time.perf_counter()
                init = daal4py.em_gmm_init(nComponents=K, covarianceStorage=_STORAGE[kind],
                                           engine=engine).compute(X)
                result = daal4py.em_gmm(
                    nComponents=K, maxIterations=int(request["max_iter"]),
                    accuracyThreshold=float(request["tol"]) * X.shape[0],
                    covarianceStorage=_STORAGE[kind]).compute(
                        X, init.weights, init.means, init.covariances)
                answer = _answer(result, X.shape[0], time.perf_counter() - t0)
            else:
                answer = {"error": f"unknown op {op!r}"}
        except Exception as exc:    # reported to the parent, which marks the cell
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
