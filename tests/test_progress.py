"""The per-iteration callback, early stopping, Ctrl-C from a callback, the verbose
formats (scikit-learn's, with bools) and the compact progress display."""

import io
import re
import warnings

import numpy as np
import pytest

import fastgmm
from fastgmm import GaussianMixture, IterationInfo

from conftest import make_mixture

X, _ = make_mixture(400, 2, 3, seed=1)


def test_callback_receives_every_iteration_of_every_restart():
    seen = []
    gm = GaussianMixture(3, n_init=2, tol=1e-8, max_iter=50, random_state=0,
                         callback=seen.append).fit(X)
    assert all(isinstance(info, IterationInfo) for info in seen)
    assert {info.restart for info in seen} == {0, 1}
    assert all(info.n_init == 2 and info.max_iter == 50 for info in seen)
    for restart in (0, 1):
        run = [info for info in seen if info.restart == restart]
        assert [info.iteration for info in run] == list(range(1, len(run) + 1))
        assert run[0].change == np.inf
        for before, after in zip(run, run[1:]):
            assert after.change == pytest.approx(after.lower_bound - before.lower_bound)
        assert run[-1].last and not any(info.last for info in run[:-1])
        assert all(info.seconds >= 0 for info in run)
    best = [info for info in seen if info.restart == 0]
    if gm.lower_bounds_ == [info.lower_bound for info in best]:
        assert best[-1].converged == gm.converged_


def test_callback_through_fastgmm_fit():
    seen = []
    gm = fastgmm.fit(X, 2, random_state=0, callback=seen.append)
    assert len(seen) == gm.n_iter_
    assert [info.lower_bound for info in seen] == gm.lower_bounds_


def test_returning_true_stops_the_restart_early_without_a_convergence_warning():
    def stop_at_three(info):
        return info.iteration == 3

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(3, tol=0, max_iter=100, init_params="random",
                             random_state=0, callback=stop_at_three).fit(X)
    assert gm.n_iter_ == 3 and not gm.converged_ and len(gm.lower_bounds_) == 3


def test_truthy_values_other_than_true_do_not_stop():
    gm = GaussianMixture(2, tol=0, max_iter=7, random_state=0,
                         callback=lambda info: 1)
    with pytest.warns(fastgmm.ConvergenceWarning):
        gm.fit(X)
    assert gm.n_iter_ == 7


def test_keyboard_interrupt_from_the_callback_propagates_and_leaves_the_estimator():
    calls = []

    def interrupt(info):
        calls.append(info)
        if info.iteration == 2:
            raise KeyboardInterrupt

    gm = GaussianMixture(2, tol=0, max_iter=50, random_state=0, callback=interrupt)
    with pytest.raises(KeyboardInterrupt):
        gm.fit(X)
    assert len(calls) == 2 and not hasattr(gm, "means_")
    gm.callback, gm.tol = None, 1e-3
    assert gm.fit(X).n_iter_ >= 1           # nothing left behind (BLAS limits, state)


def test_callback_must_be_callable():
    with pytest.raises(TypeError, match="callback must be None or a callable"):
        GaussianMixture(2, callback=3).fit(X)


def _sklearn_lines(verbose, capsys):
    GaussianMixture(2, verbose=verbose, verbose_interval=1, random_state=0).fit(X)
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("verbose, same_as", [(True, 1), (False, 0), (np.True_, 1)])
def test_verbose_accepts_bools(verbose, same_as, capsys):
    assert _sklearn_lines(verbose, capsys) == _sklearn_lines(same_as, capsys)


def test_verbose_formats_match_scikit_learn(capsys):
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    ours = _sklearn_lines(1, capsys)
    sklearn_mixture.GaussianMixture(2, verbose=1, verbose_interval=1,
                                    random_state=0).fit(X)
    theirs = capsys.readouterr().out.splitlines()
    assert ours[0] == theirs[0] == "Initialization 0"
    assert ours[-1] == theirs[-1] == "Initialization converged."
    assert all(re.fullmatch(r"  Iteration \d+", line) for line in ours[1:-1])
    ours2 = _sklearn_lines(2, capsys)
    assert re.fullmatch(r"  Iteration 1\t time lapse \d+\.\d{5}s\t ll change inf", ours2[1])
    assert re.fullmatch(r"Initialization converged\. time lapse \d+\.\d{5}s\t lower bound "
                        r"-?\d+\.\d{5}", ours2[-1])


def test_bad_verbose_values():
    with pytest.raises(TypeError, match="verbose must be"):
        GaussianMixture(verbose="loud").fit(X)
    with pytest.raises(ValueError, match="verbose"):
        GaussianMixture(verbose=-1).fit(X)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_display_on_a_terminal_updates_one_line():
    stream = Terminal()
    display = fastgmm.progress(stream, min_interval=0)
    gm = GaussianMixture(2, n_init=2, random_state=0, callback=display).fit(X)
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")        # one line, ended once
    updates = text.split("\r")[1:]
    assert len(updates) >= gm.n_iter_
    assert updates[0].startswith("restart 1/2  iteration 1/100  lower bound")
    assert "restart 2/2" in updates[-1] and "converged" in updates[-1]
    assert "ms/iter" in updates[-1] and "change" in updates[-1]


def test_progress_display_in_a_log_writes_only_finished_restarts():
    stream = io.StringIO()              # not a terminal
    GaussianMixture(2, n_init=3, random_state=0,
                    callback=fastgmm.progress(stream, log_interval=1e9)).fit(X)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]


def test_progress_display_rate_limits_a_terminal():
    stream = Terminal()
    gm = GaussianMixture(2, tol=0, max_iter=40, random_state=0,
                         callback=fastgmm.progress(stream, min_interval=1e9))
    with pytest.warns(fastgmm.ConvergenceWarning):
        gm.fit(X)
    assert stream.getvalue().count("\r") == 2       # the first and the last iteration


def test_verbose_progress_writes_to_stderr(capsys):
    GaussianMixture(2, verbose="progress", random_state=0).fit(X)
    captured = capsys.readouterr()
    assert captured.out == "" and "iteration" in captured.err


def test_progress_and_user_callback_together():
    seen = []
    stream = io.StringIO()
    from fastgmm._progress import combine_callbacks
    callback = combine_callbacks(fastgmm.progress(stream), seen.append)
    gm = GaussianMixture(2, random_state=0, callback=callback).fit(X)
    assert len(seen) == gm.n_iter_ and stream.getvalue()


def test_save_and_load_with_progress_settings(tmp_path):
    gm = GaussianMixture(2, verbose="progress", callback=print, random_state=0)
    gm.fit(X)
    gm.save(tmp_path / "m.npz")
    loaded = fastgmm.load(tmp_path / "m.npz")
    assert loaded.verbose == "progress" and loaded.callback is None
