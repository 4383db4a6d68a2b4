"""How many components? EM's criteria and the posterior's answers side by side (issue #16).

:func:`choose_k` runs the panel and returns a :class:`ChooseKResult`; the
command is ``mixcompare choose-k``.
"""

from .api import PARTS, choose_k
from .result import ChooseKResult

__all__ = ["PARTS", "ChooseKResult", "choose_k"]
