"""scikit-learn's exception and warning classes, without importing scikit-learn.

fastgmm's exceptions and warnings (``_validation``) derive from
``SklearnCounterpart``. When one of them is instantiated in a process that has
already imported scikit-learn's class of the same meaning, the instance is made of a
class that subclasses both (built once and cached), so that
``except sklearn.exceptions.NotFittedError`` catches fastgmm's error and
``warnings.filterwarnings(..., category=sklearn.exceptions.ConvergenceWarning)``
filters fastgmm's warning, while ``except fastgmm.NotFittedError`` and fastgmm's
own categories keep working in every process. scikit-learn is never imported here:
whether it is loaded is read from ``sys.modules`` at raise (or warn) time, so
``import fastgmm`` stays light and a process that imports scikit-learn after
fastgmm gets the combined classes from then on.

A warning is matched against the filters by its category, so warnings must be
issued as instances (``warnings.warn(ConvergenceWarning(message))``), not as a
message and a class.
"""

import sys

# fastgmm class -> the class that also subclasses scikit-learn's counterpart.
_COMBINED = {}


def _sklearn_class(cls):
    """scikit-learn's counterpart of ``cls`` if its module is already imported."""
    location = getattr(cls, "_sklearn_counterpart", None)
    if location is None:
        return None
    module_name, class_name = location
    module = sys.modules.get(module_name)
    if module is None:
        return None
    counterpart = getattr(module, class_name, None)   # None while it is being imported
    return counterpart if isinstance(counterpart, type) else None


def combined_class(cls):
    """``cls``, or a cached subclass of ``cls`` and its scikit-learn counterpart when
    scikit-learn has been imported (``cls`` itself when it has not, or when ``cls``
    has no counterpart or already derives from it)."""
    if cls.__dict__.get("_combined", False):
        return cls
    combined = _COMBINED.get(cls)
    if combined is not None:
        return combined
    counterpart = _sklearn_class(cls)
    if counterpart is None or issubclass(cls, counterpart):
        return cls
    combined = type(cls.__name__, (cls, counterpart),
                    {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                     "__doc__": cls.__doc__, "_combined": True})
    _COMBINED[cls] = combined
    return combined


class SklearnCounterpart:
    """Mixin of fastgmm's exceptions and warnings that have a scikit-learn
    counterpart, named by ``_sklearn_counterpart = (module, class name)``.

    Instances are created as ``combined_class(cls)``; they pickle as instances of the
    fastgmm class (the receiving process combines again if it has scikit-learn).
    """

    _sklearn_counterpart = None

    def __new__(cls, *args, **kwargs):
        return super().__new__(combined_class(cls), *args, **kwargs)

    def __reduce__(self):
        public = type(self)
        while public.__dict__.get("_combined", False):
            public = public.__bases__[0]
        return public, self.args, (self.__dict__ or None)
