import math

import pytest
import torch

from matforge.ml.composition import (
    _count_vectors,
    charge_balanced,
    count_composition,
    decode_composition,
    largest_remainder_counts,
    multinomial_composition,
)

H, CA, MG, PT = 1, 20, 12, 78


def _probs(pairs: dict[int, float]) -> torch.Tensor:
    probs = torch.zeros(100)
    for z, p in pairs.items():
        probs[z - 1] = p
    return probs


def _counts(n: int, size: int = 21) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(n), size).double()


def test_count_vectors_are_every_split_of_the_total():
    vectors = _count_vectors(3, 5)
    assert len(vectors) == math.comb(5 + 2, 2)
    assert (vectors.sum(-1) == 5).all()
    assert (vectors >= 0).all()
    assert len({tuple(v) for v in vectors.tolist()}) == len(vectors)


@pytest.mark.parametrize(
    ("symbols", "counts", "expected"),
    [
        (("Ca", "H"), (1, 2), True),
        (("Ca", "H"), (2, 4), True),
        (("Ca", "H"), (2, 1), False),
        (("Pt", "H"), (1, 2), False),  # H- beside a more electronegative cation
        (("Na", "K"), (1, 3), True),  # an alloy
        (("H",), (2,), True),
        (("Ca", "H"), (0, 2), True),  # zeros are ignored
    ],
)
def test_charge_balance_follows_smact(symbols, counts, expected):
    assert charge_balanced(symbols, counts) is expected


def test_the_most_probable_balanced_composition_is_chosen():
    probs = _probs({CA: 0.6, H: 0.4})
    # unconstrained, Ca2H is the most probable 3-atom composition
    assert decode_composition(probs, _counts(3), balanced=False) == (3, {CA: 2, H: 1})
    assert decode_composition(probs, _counts(3)) == (3, {CA: 1, H: 2})


def test_no_crystal_is_dropped_when_nothing_balances():
    probs = _probs({CA: 0.6, H: 0.4})
    # only the single most probable candidate is considered: Ca2H, unbalanced
    assert decode_composition(probs, _counts(3), log_prob_window=0.0) == (
        3,
        {CA: 2, H: 1},
    )


def test_draws_are_seeded_balanced_and_varied():
    probs = _probs({MG: 0.3, CA: 0.3, H: 0.4})
    atom_counts = torch.zeros(21, dtype=torch.double)
    atom_counts[[3, 4, 6]] = torch.tensor([0.5, 0.3, 0.2], dtype=torch.double)

    def draws(seed):
        generator = torch.Generator().manual_seed(seed)
        return [
            decode_composition(probs, atom_counts, generator=generator)
            for _ in range(30)
        ]

    first = draws(0)
    assert first == draws(0)
    assert len({str(c) for c in first}) > 3
    for n, comp in first:
        assert n in (3, 4, 6)
        assert sum(comp.values()) == n
        symbols = {H: "H", MG: "Mg", CA: "Ca"}
        assert charge_balanced(tuple(symbols[z] for z in comp), tuple(comp.values()))


def test_hydride_conditioning_brings_in_hydrogen_and_a_metal():
    # hydrogen is only the fifth most probable element: outside the four
    # considered, so without the condition no composition holds it
    probs = _probs({8: 0.3, 9: 0.25, 17: 0.2, 35: 0.15, H: 0.05, MG: 0.05})
    n, free = decode_composition(probs, _counts(4), balanced=False)
    assert H not in free
    n, counts = decode_composition(probs, _counts(4), balanced=False, hydride=True)
    assert counts[H] >= 1
    assert any(z in counts for z in (MG,))
    assert n == sum(counts.values()) == 4


def test_hydride_conditioning_is_dropped_when_impossible():
    # a one-atom cell cannot hold hydrogen and a metal: the crystal stays
    n, counts = decode_composition(_probs({MG: 0.6, H: 0.4}), _counts(1), hydride=True)
    assert n == 1
    assert sum(counts.values()) == 1


def test_multinomial_draws_are_redrawn_until_they_are_hydrides():
    probs = _probs({8: 0.9, H: 0.05, CA: 0.05})
    plain = [
        multinomial_composition(probs, 4, torch.Generator().manual_seed(k))
        for k in range(6)
    ]
    conditioned = [
        multinomial_composition(
            probs, 4, torch.Generator().manual_seed(k), hydride_redraws=500
        )
        for k in range(6)
    ]
    assert all((c == H).any() and (c == CA).any() for c in conditioned)
    # unconditioned, most crystals are oxygen only
    assert sum(bool((c == H).any() and (c == CA).any()) for c in plain) < 6


@pytest.mark.parametrize(
    ("pairs", "n", "expected"),
    [
        ({MG: 1 / 3, H: 2 / 3}, 6, {MG: 2, H: 4}),
        ({MG: 1 / 3, H: 2 / 3}, 3, {MG: 1, H: 2}),
        ({CA: 0.2, MG: 0.2, H: 0.6}, 10, {CA: 2, MG: 2, H: 6}),
        # a slightly wrong head still rounds to the right counts
        ({MG: 0.30, H: 0.65, PT: 0.05}, 6, {MG: 2, H: 4}),
    ],
)
def test_count_decoding_gives_the_rounded_composition(pairs, n, expected):
    for seed in range(20):
        types = count_composition(_probs(pairs), n, torch.Generator().manual_seed(seed))
        assert len(types) == n
        elements, counts = torch.unique(types, return_counts=True)
        found = {int(z): int(c) for z, c in zip(elements, counts, strict=True)}
        assert found == expected


def test_count_decoding_draws_only_the_leftover_atoms():
    # 0.5 * 5 = 2.5 rounds to 2 (half to even) for both: one atom left to draw,
    # from what the rounding left: 0.5 - 2/5 = 0.1 each, so Mg or H
    probs = _probs({MG: 0.5, H: 0.5})
    seen = set()
    for seed in range(40):
        types = count_composition(probs, 5, torch.Generator().manual_seed(seed))
        counts = {int(z): int((types == z).sum()) for z in (MG, H)}
        assert len(types) == 5
        assert sorted(counts.values()) == [2, 3]
        seen.add(counts[MG])
    assert seen == {2, 3}


def test_count_decoding_trims_an_overfull_rounding():
    # 1.5 and 1.5 round to 2 and 2: one of the four atoms goes
    probs = _probs({MG: 0.5, H: 0.5})
    for seed in range(10):
        types = count_composition(probs, 3, torch.Generator().manual_seed(seed))
        assert len(types) == 3
        assert {int(z) for z in types} <= {MG, H}


def test_count_decoding_is_seeded_and_beats_the_per_atom_draw():
    probs = _probs({MG: 1 / 3, H: 2 / 3})
    one = count_composition(probs, 6, torch.Generator().manual_seed(3))
    two = count_composition(probs, 6, torch.Generator().manual_seed(3))
    assert torch.equal(one, two)
    exact = 0
    for seed in range(300):
        drawn = multinomial_composition(probs, 6, torch.Generator().manual_seed(seed))
        exact += int((drawn == MG).sum()) == 2
    # a perfect head gives Mg2H4 in only about a third of per-atom draws
    assert 0.2 < exact / 300 < 0.45


def test_count_decoding_rejects_an_empty_crystal():
    with pytest.raises(ValueError, match="num_atoms"):
        count_composition(_probs({H: 1.0}), 0, torch.Generator())


def test_largest_remainder_counts():
    probs = torch.tensor([0.5, 0.3, 0.2, 0.0])
    assert largest_remainder_counts(probs, 7).tolist() == [4, 2, 1, 0]
    assert int(largest_remainder_counts(probs, 3, 0.7).sum()) == 3
    assert largest_remainder_counts(probs, 3, 0.7).tolist() == [2, 1, 0, 0]
