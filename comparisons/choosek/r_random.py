"""R's default random numbers, to replay a published R computation exactly.

mclust's vignette draws its random agglomerations with R's generator after
``set.seed(20181116)``; to start EM where mclust started, this module
reproduces R's defaults (R >= 3.6: ``RNGkind("Mersenne-Twister", "Inversion",
"Rejection")``), written from R's documented algorithms (R's ``?RNGkind``,
``?set.seed`` and ``?sample``):

* ``set.seed(s)``: the seed is scrambled by 50 steps of the linear congruential
  map ``s -> 69069 s + 1 (mod 2^32)``; the next 625 steps fill the Mersenne-Twister
  state (its position word, then 624 key words) and the position is set to 624.
* ``unif_rand``: a tempered 32-bit MT19937 output times ``2^-32`` (moved off 0 and 1).
* ``sample`` without replacement: index ``j`` uniform on ``0..m-1`` by rejection
  from ``ceil(log2 m)`` random bits (16 bits per uniform), the ``j``-th remaining
  item taken and replaced by the last.

Only for replaying R; mixcompare's own draws use numpy Generators.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["RRandom", "hc_random_pairs"]

_M32 = 0xFFFFFFFF
_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1)


class RRandom:
    """R's Mersenne-Twister after ``set.seed(seed)``.

    Parameters
    ----------
    seed : int
        The argument of R's ``set.seed`` (an integer, taken modulo 2^32).
    """

    def __init__(self, seed: int):
        s = int(seed) & _M32
        for _ in range(50):
            s = (69069 * s + 1) & _M32
        words = np.empty(625, dtype=np.uint32)
        for j in range(625):
            s = (69069 * s + 1) & _M32
            words[j] = s
        self._bits = np.random.MT19937()
        # words[0] is R's position word, reset to 624 (regenerate before the first draw)
        self._bits.state = {"bit_generator": "MT19937",
                            "state": {"key": words[1:], "pos": 624}}

    def unif(self) -> float:
        """One uniform on (0, 1), as R's ``unif_rand``."""
        u = float(self._bits.random_raw()) * 2.3283064365386963e-10
        if u <= 0.0:
            return 0.5 * _I2_32M1
        if 1.0 - u <= 0.0:
            return 1.0 - 0.5 * _I2_32M1
        return u

    def _bits_value(self, bits: int) -> int:
        v = 0
        for _ in range(0, bits + 1, 16):
            v = 65536 * v + math.floor(self.unif() * 65536)
        return v & ((1 << bits) - 1)

    def index(self, m: int) -> int:
        """Draw a uniform index in ``0..m-1`` (R's ``R_unif_index``, rejection sampling)."""
        if m <= 0:
            return 0
        bits = math.ceil(math.log2(m))
        while True:
            v = self._bits_value(bits)
            if v < m:
                return v

    def sample(self, items, size: int) -> list:
        """``size`` items drawn without replacement, in draw order (R's ``sample(items, size)``).

        As R, for a vector ``items`` of length at least 2 (R's ``sample(5, 2)``
        samples from ``1:5``; call ``sample(range(1, 6), 2)`` for it).
        """
        items = list(items)
        if not 0 <= size <= len(items):
            raise ValueError(f"cannot take {size} items from {len(items)} without replacement.")
        pool, m, out = list(range(len(items))), len(items), []
        for _ in range(size):
            j = self.index(m)
            out.append(items[pool[j]])
            m -= 1
            pool[j] = pool[m]
        return out


def hc_random_pairs(n: int, r: RRandom) -> np.ndarray:
    """Draw a random merge tree of ``n`` observations, as mclust's ``hcRandomPairs``.

    The observations (all but one when ``n`` is odd) are paired at random;
    then, while fewer than ``m - 1`` merges exist (``m`` the number paired), two
    of the surviving groups (labelled by their lowest member) are merged at random.

    Parameters
    ----------
    n : int
    r : RRandom
        Advanced by the draws.

    Returns
    -------
    ndarray of int, shape (2, m - 1)
        1-based merge pairs, lower label first (for :func:`em.cut_tree`).
    """
    m = n - 1 if n % 2 else n
    first = r.sample(range(1, n + 1), m)
    cols = [sorted(first[2 * c:2 * c + 2]) for c in range(m // 2)]
    alive = list(dict.fromkeys(c[0] for c in cols))
    while len(cols) < m - 1:
        pair = sorted(r.sample(alive, 2))
        alive = [a for a in alive if a != pair[1]]
        cols.append(pair)
    return np.array(cols, dtype=np.int64).T.reshape(2, -1)
