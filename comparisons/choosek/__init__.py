"""How many components? EM's criteria and the posterior's answers side by side (issue #16).

:func:`choose_k` runs the panel and returns a :class:`ChooseKResult`; the
command is ``mixcompare choose-k`` (:mod:`.cli`). Both are imported when first
asked for, so that the command line starts before numpy and scipy are loaded.
"""

__all__ = ["PARTS", "ChooseKResult", "choose_k"]


def __getattr__(name):
    if name in ("PARTS", "choose_k"):
        from . import api
        return getattr(api, name)
    if name == "ChooseKResult":
        from .result import ChooseKResult
        return ChooseKResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
