"""The EM lecture reproduced slide by slide (``mixcompare lecture``).

- :mod:`.surface` — log-likelihood surfaces over the two means, and EM on them;
- :mod:`.slides` — every number the lecture shows, and :func:`lecture_command`;
- :mod:`.figures` — its figures, drawn from precomputed results;
- :mod:`.pages` — ``index.md``, ``captions.md`` and the tables.
"""
