"""Intel oneDAL's ``em_gmm`` as a peer in the benchmarks, from its own virtualenv.

daal4py 2024.7 (the release with ``em_gmm``) needs numpy < 2, scikit-learn < 1.6 and
packaging, which cannot share an environment with fastgmm's numpy 2 build. So the
benchmarks create (or reuse) ``benchmarks/.venv-daal4py`` (git-ignored) with those
pins and run oneDAL in a child process (``onedal_child.py``) that is sent the data
and initial parameters by file and answers with times measured around its own
calls. When the environment cannot be made or daal4py does not import, every
oneDAL cell says "not available" (with the reason) and the rest runs.

Usage from a benchmark::

    with OneDAL.open(threads=2, mode="auto") as onedal:
        if onedal.available:
            onedal.load("W1", X)
            seconds, n_iter, mean_ll, means = onedal.fit("W1", start, "full", 10, 0.0)
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-daal4py"
REQUIREMENTS = ["daal4py==2024.7.0", "numpy<2", "scikit-learn<1.6", "packaging"]
COVARIANCE_TYPES = ("full", "diag")     # em_gmm's "full" and "diagonal" storage
NOT_AVAILABLE = "not available"


def _venv_python():
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _imports_daal4py(python):
    try:
        done = subprocess.run([str(python), "-c", "import daal4py"], capture_output=True,
                              timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return done.returncode == 0, done.stderr.decode(errors="replace").strip()[-300:]


def ensure_environment(mode="auto"):
    """The child's Python, creating its virtualenv if needed.

    Parameters
    ----------
    mode : {"auto", "reuse", "off"}
        "auto": reuse ``.venv-daal4py`` or create it (pip install, about a minute);
        "reuse": only an existing one; "off": none.

    Returns
    -------
    python : Path or None
    reason : str
        Why oneDAL is not available ("" when it is).
    """
    if mode == "off":
        return None, "disabled (--onedal off)"
    python = _venv_python()
    if python.exists():
        ok, err = _imports_daal4py(python)
        if ok:
            return python, ""
        if mode == "reuse":
            return None, f"daal4py does not import in {VENV}: {err}"
    elif mode == "reuse":
        return None, f"no {VENV} (run with --onedal auto to create it)"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True,
                       capture_output=True, timeout=600)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS],
                       check=True, capture_output=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return None, (f"could not install {' '.join(REQUIREMENTS)}: "
                      f"{detail.decode(errors='replace').strip()[-300:] or exc}")
    ok, err = _imports_daal4py(python)
    return (python, "") if ok else (None, f"daal4py does not import: {err}")


class OneDAL:
    """A running oneDAL child, or an unavailable stand-in (``available`` False)."""

    def __init__(self, process=None, reason="", threads=None):
        self.process = process
        self.reason = reason
        self.threads = threads
        self.version = None
        self._tmp = tempfile.TemporaryDirectory(prefix="fastgmm-onedal-")
        self._starts = {}
        self._rows = {}

    @property
    def available(self):
        return self.process is not None

    @classmethod
    def open(cls, threads, mode="auto"):
        """Start the child with ``threads`` oneDAL threads (or explain why not)."""
        python, reason = ensure_environment(mode)
        if python is None:
            return cls(reason=reason)
        child = subprocess.Popen([str(python), str(HERE / "onedal_child.py"), str(threads)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            hello = json.loads(child.stdout.readline() or "{}")
        except json.JSONDecodeError:
            hello = {}
        if not hello.get("ready"):
            child.kill()
            return cls(reason="the oneDAL child did not start: "
                       + child.stderr.read()[-300:])
        onedal = cls(child, threads=hello.get("threads"))
        onedal.version = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('daal4py'))"],
            capture_output=True, text=True).stdout.strip() or None
        return onedal

    def _ask(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the oneDAL child exited: " + self.process.stderr.read()[-300:])
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"oneDAL: {answer['error']}")
        return answer

    def load(self, key, X):
        """Send X (float64 copy) to the child under ``key``."""
        path = os.path.join(self._tmp.name, f"X-{len(self._rows)}.npz")
        np.savez(path, X=np.asarray(X, dtype=np.float64))
        self._rows[key] = X.shape[0]
        self._ask({"op": "load", "key": key, "path": path})

    def fit(self, key, start, covariance_type, n_iter, tol):
        """em_gmm from ``start`` = (weights, means, covariances).

        Returns
        -------
        seconds, n_iter, mean_log_likelihood, means (ndarray)
        """
        weights, means, covariances = start
        token = (id(weights), id(means), id(covariances))
        if token not in self._starts:
            path = os.path.join(self._tmp.name, f"start-{len(self._starts)}.npz")
            np.savez(path, weights=weights, means=means, covariances=covariances)
            self._starts[token] = (path, start)     # start held: ids stay unique
        answer = self._ask({"op": "fit", "key": key, "start": self._starts[token][0],
                            "covariance_type": covariance_type, "n_iter": int(n_iter),
                            "tol": float(tol)})
        return (answer["seconds"], answer["n_iter"], answer["mean_log_likelihood"],
                np.asarray(answer["means"]))

    def default_fit(self, key, n_components, covariance_type, *, tol=1e-3, max_iter=100,
                    seed=0):
        """oneDAL's whole fit: its own start (``em_gmm_init``) then ``em_gmm``.

        Returns
        -------
        seconds, n_iter, mean_log_likelihood
        """
        answer = self._ask({"op": "default_fit", "key": key, "n_components": n_components,
                            "covariance_type": covariance_type, "tol": tol,
                            "max_iter": max_iter, "seed": seed})
        return answer["seconds"], answer["n_iter"], answer["mean_log_likelihood"]

    def close(self):
        if self.process is not None:
            try:
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.flush()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
            self.process = None
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
