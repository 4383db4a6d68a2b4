"""Outputs of a comparison, read from its ``DataTree`` only (nothing is recomputed).

- :mod:`.comparison` — ``report.md`` and ``report.html`` (:func:`write_report`);
- :mod:`.modes` — the report's section on posterior modes and EM's optima;
- :mod:`.figures` — the report's figures;
- :mod:`.summary_json` — the ``summary.json`` contract (:func:`summarise`);
- :mod:`.em_json` — one EM fit as JSON (``mixcompare em``).
"""

from .comparison import write_report
from .summary_json import summarise

__all__ = ["summarise", "write_report"]
