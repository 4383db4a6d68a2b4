"""mclust's starts: quantile classes, cutting a merge tree, its stopping rule, R's generator."""

from __future__ import annotations

import numpy as np
import pytest
from mixcompare import em
from mixcompare.comparisons.choosek.r_random import RRandom, hc_random_pairs
from mixcompare.em import cut_tree, mclust_stop, quantile_classes


def test_quantile_classes_by_hand():
    # 0..9, k = 2: R's type-7 quantiles at 0, 1/2, 1 are 0, 4.5, 9: [0, 4.5) and [4.5, 9]
    assert quantile_classes(np.arange(10.0), 2).tolist() == [0] * 5 + [1] * 5
    # ties: quantiles at 0, 1/3, 2/3, 1 sit at sorted positions 1, 4, 7, 10 -> 1, 2, 5, 10;
    # a value equal to a break opens the upper class, so both 5's go up
    x = np.array([1, 1, 1, 2, 3, 4, 5, 5, 6, 10.0])
    assert quantile_classes(x, 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    # unsorted input keeps its order (mclust 6.0.0 ``mclust:::qclass``, R 4.2.2: 2 1 3 1 3 3 2)
    x = np.array([3.1, 0.2, 5.5, 1.7, 9.0, 4.4, 2.2])
    assert (quantile_classes(x, 3) + 1).tolist() == [2, 1, 3, 1, 3, 3, 2]
    # four zeros: the quantiles 0, 0, 3 merge; more probabilities until 3 distinct breaks
    assert quantile_classes(np.array([0, 0, 0, 0, 1, 2, 3.0]), 2).tolist() == [0] * 4 + [1] * 3
    with pytest.raises(ValueError, match="distinct values"):
        quantile_classes(np.array([1.0, 1.0, 2.0]), 3)


def test_cut_tree_by_hand():
    # 5 observations: merge {1,3}, then {2,5}, then {1,2} (groups labelled by lowest member)
    pairs = np.array([[1, 2, 1], [3, 5, 2]])
    assert cut_tree(pairs, 5, 5).tolist() == [0, 1, 2, 3, 4]
    assert cut_tree(pairs, 5, 4).tolist() == [0, 1, 0, 2, 3]
    assert cut_tree(pairs, 5, 3).tolist() == [0, 1, 0, 2, 1]
    assert cut_tree(pairs, 5, 2).tolist() == [0, 0, 0, 1, 0]
    with pytest.raises(ValueError, match="cannot be cut"):
        cut_tree(pairs, 5, 1)


def test_mclust_stop_is_the_relative_change_rule():
    ll = np.array([-100.0, -50.0, -49.99, -49.9999, -49.99999])
    # |change| / (1 + |l_t|): 50 / 51, 0.01 / 50.99, 0.0099 / 50.9999 (all > 1e-5), then
    # 9e-5 / 50.99999 = 1.8e-6 <= 1e-5: mclust reports l_4
    assert mclust_stop(ll) == 4
    assert mclust_stop(ll, tol=1e-3) == 2
    assert mclust_stop(ll[:3]) is None


def test_r_generator_matches_r():
    """R 4.2.2 (defaults Mersenne-Twister, Inversion, Rejection): ``set.seed(1); runif(3)``
    prints 0.2655087 0.3721239 0.5728534; ``set.seed(42); sample(1:10)`` prints
    1 5 10 8 2 4 6 9 7 3."""
    r = RRandom(1)
    assert [r.unif() for _ in range(3)] == pytest.approx([0.2655087, 0.3721239, 0.5728534],
                                                         abs=5e-8)
    assert RRandom(42).sample(range(1, 11), 10) == [1, 5, 10, 8, 2, 4, 6, 9, 7, 3]


def test_random_pairs_make_a_full_tree():
    pairs = hc_random_pairs(9, RRandom(3))  # odd n: 8 observations paired, 7 merges
    assert pairs.shape == (2, 7) and np.all(pairs[0] < pairs[1])
    assert np.bincount(cut_tree(pairs, 9, 2)).tolist() in ([8, 1], [1, 8])


def test_init_mclust_is_1d_only_and_deterministic():
    x = np.array([0.0, 0.1, 0.3, 5.0, 5.2, 5.1, 9.9, 10.0, 10.3])
    a = em.fit(x, 3, init="mclust", n_init=2, rng=0)
    assert a.means == pytest.approx([x[:3].mean(), x[3:6].mean(), x[6:].mean()], abs=1e-6)
    assert a.restarts[0].log_likelihood == a.restarts[1].log_likelihood
    with pytest.raises(ValueError, match="1-D data"):
        em.fit(np.c_[x, x**2], 2, init="mclust")
