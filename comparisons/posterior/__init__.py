"""The posterior after sampling: relabelling, label switching and the census of modes.

- :mod:`.stephens` — numpy kernels: permutations, assignment, Stephens' (2000) algorithm;
- :mod:`.relabel` — relabelling draws by a pivot or by Stephens, over ``(chain, draw)``;
- :mod:`.switch_summary` — what switching the permutations show, per chain;
- :mod:`.switching` — one posterior's label-switching analysis (detect, relabel, summarise);
- :mod:`.census` — where each chain settled, matched to EM's atlas of optima;
- :mod:`.tail` — tail-sensitive summaries: how much of each sd the extreme draws carry.
"""
