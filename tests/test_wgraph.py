"""W-graph energies: Chu–Liu/Edmonds vs enumeration, hand-made cases."""

import numpy as np
import pytest

from fwpotential.analysis import wgraph


def test_two_attractors():
    assert np.allclose(wgraph.energies([[0, 1.0], [3.0, 0]]), [3.0, 1.0])


def test_three_attractor_chain_by_hand():
    # 0 <-> 1 <-> 2 in a line; direct 0 <-> 2 impossible
    C = np.array([[0, 1.0, np.inf], [2.0, 0, 4.0], [np.inf, 0.5, 0]])
    # W_0: 1->0 (2) + 2->1 (0.5) = 2.5; W_1: 0->1 (1) + 2->1 (0.5) = 1.5; W_2: 0->1 (1) + 1->2 (4) = 5
    assert np.allclose(wgraph.energies(C), [2.5, 1.5, 5.0])
    assert np.allclose(wgraph.energies(C, method="enumerate"), [2.5, 1.5, 5.0])


def test_cycle_contraction_case():
    # cheapest out-arrows form the cycle 1 -> 2 -> 1, which Edmonds must contract
    C = np.array([[0, 5.0, 6.0], [10.0, 0, 1.0], [10.0, 1.0, 0]])
    # W_0: must leave {1,2} to 0 once (10) plus the internal arrow (1) = 11
    assert np.isclose(wgraph.energies(C)[0], 11.0)
    assert np.allclose(wgraph.energies(C), wgraph.energies(C, method="enumerate"))


def test_unreachable_root_is_inf():
    C = np.array([[0, 1.0], [np.inf, 0]])
    W = wgraph.energies(C)
    assert np.isinf(W[0]) and W[1] == 1.0


def test_symmetric_problem_ties():
    C = np.array([[0, 2.0, 3.0], [2.0, 0, 3.0], [1.0, 1.0, 0]])
    W = wgraph.energies(C)
    assert W[0] == W[1]


def test_edmonds_matches_enumeration_random():
    rng = np.random.default_rng(3)
    for _ in range(80):
        m = int(rng.integers(2, 7))
        C = rng.random((m, m)) * 5
        C[rng.random((m, m)) < 0.25] = np.inf
        a, b = wgraph.energies(C), wgraph.energies(C, method="enumerate")
        assert np.array_equal(np.isinf(a), np.isinf(b))
        assert np.allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-12, atol=1e-12)


def test_arborescence_parents_are_valid():
    rng = np.random.default_rng(5)
    for _ in range(100):
        m = int(rng.integers(2, 7))
        C = rng.random((m, m)) * 5
        for root in range(m):
            w, parent = wgraph.min_in_arborescence(C, root)
            assert parent[root] == -1
            total = sum(C[j, parent[j]] for j in range(m) if j != root)
            assert np.isclose(total, w)
            for j in range(m):  # no cycles: every chain reaches the root
                seen, x = set(), j
                while x != root:
                    assert x not in seen
                    seen.add(x)
                    x = parent[x]


def test_bad_costs():
    with pytest.raises(ValueError, match="square"):
        wgraph.energies([[0, 1, 2]])
    with pytest.raises(ValueError, match=">= 0"):
        wgraph.energies([[0, -1.0], [1.0, 0]])
    with pytest.raises(ValueError, match="m <= 8"):
        wgraph.energies(np.ones((9, 9)), method="enumerate")
