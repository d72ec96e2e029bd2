"""fastgmm: fast, deterministic, multi-threaded Gaussian mixture models.

>>> import fastgmm
>>> gm = fastgmm.GaussianMixture(n_components=3, random_state=0).fit(X)  # doctest: +SKIP
"""

from ._model import GaussianMixture, fit
from ._openmp_helpers import openmp_enabled
from ._persistence import load
from ._select import SelectionResult, SelectionTable, select
from ._progress import IterationInfo, ProgressDisplay, progress
from ._validation import ConvergenceWarning, NotFittedError, ReseedWarning
from . import stats

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "GaussianMixture",
    "IterationInfo",
    "NotFittedError",
    "ReseedWarning",
    "SelectionResult",
    "SelectionTable",
    "fit",
    "load",
    "openmp_enabled",
    "select",
    "progress",
    "ProgressDisplay",
    "stats",
]
