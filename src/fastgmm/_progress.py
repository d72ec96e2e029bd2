"""Progress of a fit: the per-iteration record a ``callback`` receives, and a compact
progress display built on it.

``GaussianMixture(callback=f)`` calls ``f(info)`` after every EM iteration of every
restart with an :class:`IterationInfo`; ``f`` returning ``True`` stops that restart
(the fit then moves on to the next restart, and keeps the best one as usual).
Exceptions raised by ``f`` (``KeyboardInterrupt`` included) propagate out of ``fit``
unchanged, and the estimator keeps the state it had before the call.

:class:`ProgressDisplay` (``fastgmm.progress()``, or ``verbose="progress"``) is
such a callback: one line updated in place on a terminal (``\\r``), one updated
output area in a Jupyter notebook, and on anything else (a log file, a pipe) only a
line per finished restart plus one every ``log_interval`` seconds.
"""

import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class IterationInfo:
    """The state of a fit after one EM iteration (what a ``callback`` receives).

    Attributes
    ----------
    restart : int
        Index of the current initialization, ``0 <= restart < n_init``.
    n_init : int
        Number of initializations of the fit (1 for a warm start).
    iteration : int
        EM iterations done in this restart (1 after the first).
    max_iter : int
        The fit's ``max_iter``.
    lower_bound : float
        Mean log-likelihood of the parameters this iteration started from.
    change : float
        ``lower_bound`` minus that of the previous iteration (``inf`` for the first
        iteration of a fresh start).
    seconds : float
        Wall-clock time of this iteration, in seconds.
    converged : bool
        Whether ``abs(change) < tol``: this restart stops after this call.
    """

    restart: int
    n_init: int
    iteration: int
    max_iter: int
    lower_bound: float
    change: float
    seconds: float
    converged: bool

    @property
    def last(self):
        """True when this restart ends with this iteration (converged or max_iter)."""
        return self.converged or self.iteration >= self.max_iter


def check_callback(callback):
    """``callback`` when it is None or callable, else a TypeError naming the fix."""
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be None or a callable taking one IterationInfo, "
                        f"got {callback!r} of type {type(callback).__name__}; pass e.g. "
                        "callback=fastgmm.progress() or a function f(info).")
    return callback


def combine_callbacks(*callbacks):
    """One callback calling each of ``callbacks`` (None entries skipped) in order;
    it asks to stop when any of them does. None when there is none."""
    present = [c for c in callbacks if c is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]

    def combined(info):
        stop = False
        for callback in present:
            stop = bool(callback(info)) or stop
        return stop
    return combined


def _format(info):
    change = "" if info.change == float("inf") else f"  change {info.change:+.3e}"
    restart = f"restart {info.restart + 1}/{info.n_init}  " if info.n_init > 1 else ""
    status = "  converged" if info.converged else ""
    return (f"{restart}iteration {info.iteration}/{info.max_iter}  lower bound "
            f"{info.lower_bound:.6g}{change}  {info.seconds * 1e3:.1f} ms/iter{status}")


def _notebook_display():
    """IPython's ``display`` when running in a Jupyter kernel, else None."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return None
    try:
        ip = shell.get_ipython()
    except AttributeError:
        return None
    if ip is None or type(ip).__name__ != "ZMQInteractiveShell":
        return None
    from IPython.display import display
    return display


class ProgressDisplay:
    """A compact progress display for long fits; pass it as ``callback``.

    On a terminal it keeps one line up to date in place (``\\r``): the first
    iteration, then at most one update every ``min_interval`` seconds and the last
    iteration of each restart, and ends it with a newline when the fit's last restart
    ends. In a Jupyter notebook it updates one output area. Elsewhere (a file, a
    pipe, a CI log) it writes a line per finished restart and, during a restart,
    at most one line every ``log_interval`` seconds, so logs are not flooded.

    Parameters
    ----------
    stream : file object, default=None
        Where to write; ``None`` means ``sys.stderr`` at each call.
    min_interval : float, default=0.1
        Seconds between updates of the line on a terminal or in a notebook.
    log_interval : float, default=30.0
        Seconds between lines during a restart when the stream is not a terminal.
    notebook : bool or None, default=None
        Use a notebook output area; ``None`` detects a Jupyter kernel.

    Examples
    --------
    >>> import numpy as np, fastgmm
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> gm = fastgmm.GaussianMixture(2, callback=fastgmm.progress(), random_state=0)
    >>> gm = gm.fit(X)  # doctest: +SKIP
    iteration 5/100  lower bound -2.81  change +4.1e-04  0.1 ms/iter  converged
    """

    def __init__(self, stream=None, *, min_interval=0.1, log_interval=30.0, notebook=None):
        self.stream = stream
        self.min_interval = float(min_interval)
        self.log_interval = float(log_interval)
        self.notebook = notebook
        self._last_write = None
        self._width = 0
        self._handle = None

    def _stream(self):
        return sys.stderr if self.stream is None else self.stream

    def _is_terminal(self, stream):
        isatty = getattr(stream, "isatty", None)
        try:
            return bool(isatty()) if isatty is not None else False
        except ValueError:      # a closed stream
            return False

    def __call__(self, info):
        now = time.monotonic()
        text = _format(info)
        final = info.last and info.restart == info.n_init - 1
        display = _notebook_display() if self.notebook in (None, True) else None
        if display is not None:
            self._update_notebook(display, text, now, info.last)
            return False
        stream = self._stream()
        if self._is_terminal(stream):
            if (info.last or self._last_write is None
                    or now - self._last_write >= self.min_interval):
                padding = " " * max(0, self._width - len(text))
                stream.write(f"\r{text}{padding}" + ("\n" if final else ""))
                stream.flush()
                self._width = 0 if final else len(text)
                self._last_write = now
        elif info.last or self._due(now, self.log_interval):
            stream.write(text + "\n")
            stream.flush()
            self._last_write = now
        if info.last:
            self._last_write = None
        return False

    def _due(self, now, interval):
        if self._last_write is None:
            self._last_write = now      # the first line comes after one interval
            return False
        return now - self._last_write >= interval

    def _update_notebook(self, display, text, now, last):
        if self._handle is None:
            self._handle = display({"text/plain": text}, raw=True, display_id=True)
            self._last_write = now
        elif last or now - self._last_write >= self.min_interval:
            self._handle.update({"text/plain": text}, raw=True)
            self._last_write = now


def progress(stream=None, *, min_interval=0.1, log_interval=30.0):
    """A :class:`ProgressDisplay` to pass as ``callback`` (see its documentation).

    Parameters
    ----------
    stream : file object, default=None
        Where to write (``sys.stderr`` when None).
    min_interval : float, default=0.1
        Seconds between in-place updates on a terminal or in a notebook.
    log_interval : float, default=30.0
        Seconds between lines when the stream is not a terminal.

    Returns
    -------
    ProgressDisplay
    """
    return ProgressDisplay(stream, min_interval=min_interval, log_interval=log_interval)
