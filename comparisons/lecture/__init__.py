"""The EM lecture reproduced slide by slide (``mixcompare lecture``).

- :mod:`.surface` — log-likelihood surfaces over the two means; :mod:`.paths` — EM on them;
- :mod:`.theory` — slides 28-29 (one Gaussian or two) and the E-/M-step by hand (36-42);
- :mod:`.slides` — every other number the lecture shows;
- :mod:`.figures`, :mod:`.figures_slides` — its figures, drawn from precomputed results;
- :mod:`.pages`, :mod:`.pages_slides` — ``index.md`` (slide index, formulas), ``captions.md``,
  the tables;
- :mod:`.interactive` — the interactive ``index.html`` (``page.html``, ``page.js``);
- :mod:`.command` — :func:`~.command.lecture_command`, the CLI's ``mixcompare lecture``.
"""
