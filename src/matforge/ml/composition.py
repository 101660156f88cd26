"""Decoding a discrete composition from the composition and atom-count heads.

The composition head gives element probabilities ``p`` and the atom-count
head a distribution over the number of atoms ``N``.

:func:`count_composition` is CDVAE's decoding (``sample_composition``):
``p * N`` is rounded to counts and only the atoms the rounding leaves out are
drawn, from what the rounding left of ``p``; when the head is right, the
composition is exact. :func:`multinomial_composition` draws every atom
independently from ``p`` instead, which even for a perfect head gives a 2:4
crystal its composition in only about a third of the draws.

:func:`decode_composition` draws a whole integer composition: the
candidates are the count vectors ``c`` over the few most probable elements
for the few most probable atom counts ``N``, weighted by
``P(N) * Multinomial(c | N, p)`` -- the law of the per-atom draw -- and
conditioned on SMACT's chemical rule (some choice of the elements' common
oxidation states sums to zero with every cation less electronegative than
every anion; compositions of metals only are alloys and always admitted).
Conditioning renormalises the law over the admissible compositions; nothing
is drawn and then thrown away: every latent gives one composition, and when
no candidate can be balanced the rule is dropped, so the validity metric
still sees that crystal.
"""

from __future__ import annotations

import itertools
import math
import warnings
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

DEFAULT_MAX_ELEMENTS = 4
"""Elements considered per crystal (most probable first)."""
DEFAULT_ATOM_COUNT_CANDIDATES = 3
"""Most probable atom counts tried."""


@lru_cache(maxsize=64)
def _count_vectors(num_elements: int, total: int) -> np.ndarray:
    """Every vector of ``num_elements`` non-negative integers summing to ``total``."""
    slots = total + num_elements - 1
    rows = [
        np.diff([-1, *bars, slots]) - 1
        for bars in itertools.combinations(range(slots), num_elements - 1)
    ]
    return np.asarray(rows, dtype=np.int64).reshape(-1, num_elements)


@lru_cache(maxsize=100_000)
def _balanced_reduced(symbols: tuple[str, ...], counts: tuple[int, ...]) -> bool:
    import smact
    from smact.screening import pauling_test

    if len(symbols) == 1 or all(s in smact.metals for s in symbols):
        return True
    try:
        elements = [smact.Element(s) for s in symbols]
    except (KeyError, NameError):
        return False
    states = [e.oxidation_states_smact14 for e in elements]
    electronegs = [e.pauling_eneg for e in elements]
    if any(not s for s in states) or any(x is None for x in electronegs):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ox in itertools.product(*states):
            if sum(o * c for o, c in zip(ox, counts, strict=True)) != 0:
                continue
            if pauling_test(ox, electronegs):
                return True
    return False


def charge_balanced(symbols: tuple[str, ...], counts: tuple[int, ...]) -> bool:
    """Return True when SMACT's rule admits the composition.

    Parameters
    ----------
    symbols
        Element symbols.
    counts
        Atoms of each element (zeros are ignored).

    Returns
    -------
    bool
        True for a single element, an all-metal composition, or one with an
        assignment of SMACT's 2014 oxidation states that sums to zero and
        passes the Pauling electronegativity test.
    """
    pairs = [(s, c) for s, c in zip(symbols, counts, strict=True) if c > 0]
    if not pairs:
        return False
    divisor = math.gcd(*(c for _, c in pairs))
    pairs.sort()
    return _balanced_reduced(
        tuple(s for s, _ in pairs), tuple(c // divisor for _, c in pairs)
    )


def _metal_mask(size: int) -> np.ndarray:
    from pymatgen.core import Element

    from matforge.core.chemistry import is_metal

    return np.array([is_metal(Element.from_Z(z).symbol) for z in range(1, size + 1)])


def _is_hydride(types: Tensor, metals: np.ndarray) -> bool:
    numbers = types.cpu().numpy()
    return bool((numbers == 1).any() and metals[numbers - 1].any())


def count_composition(
    probs: Tensor,
    num_atoms: int,
    generator: torch.Generator,
    *,
    hydride_redraws: int = 0,
) -> Tensor:
    """Return ``num_atoms`` atom types from rounded counts (CDVAE's decoding).

    Every element gets ``round(p * N)`` atoms (round half to even, as
    ``torch.round``); atoms still missing are drawn from ``p - counts / N``
    (negative parts set to zero), and when the rounding gives more than
    ``N`` atoms, the excess is removed at random, as CDVAE truncates a
    shuffled list.

    Parameters
    ----------
    probs
        ``(MAX_Z,)`` probabilities of atomic numbers 1..MAX_Z.
    num_atoms
        The atom count.
    generator
        Random generator (CPU) of the draws.
    hydride_redraws
        When the composition lacks hydrogen or a metal, draw the missing atoms
        again up to this many times (the rounded counts stay).

    Returns
    -------
    Tensor
        ``(num_atoms,)`` atomic numbers, sorted.
    """
    if num_atoms < 1:
        raise ValueError(f"num_atoms must be at least 1, not {num_atoms}")
    p = probs.detach().double().cpu()
    p = p / p.sum()
    counts = torch.round(p * num_atoms).long()
    rounded = torch.repeat_interleave(torch.arange(1, len(p) + 1), counts)
    missing = num_atoms - len(rounded)
    if missing < 0:
        keep = torch.randperm(len(rounded), generator=generator)[:num_atoms]
        return torch.sort(rounded[keep]).values
    if missing == 0:
        return rounded
    left = (p - counts.double() / num_atoms).clamp_min(0.0)
    metals = _metal_mask(len(p)) if hydride_redraws else None
    for attempt in range(hydride_redraws + 1):
        drawn = torch.multinomial(left, missing, replacement=True, generator=generator)
        types = torch.sort(torch.cat([rounded, drawn + 1])).values
        if metals is None or attempt == hydride_redraws or _is_hydride(types, metals):
            return types
    return types  # pragma: no cover - the loop always returns


def multinomial_composition(
    probs: Tensor,
    num_atoms: int,
    generator: torch.Generator,
    *,
    hydride_redraws: int = 0,
) -> Tensor:
    """Return ``num_atoms`` atom types drawn one by one from ``probs``.

    Every atom's type is an independent draw. ``hydride_redraws`` redraws a
    composition without hydrogen or a metal up to that many times (rejection
    sampling of the conditional law; the last draw stays).
    """
    p = probs.detach().double().cpu()
    metals = _metal_mask(len(p)) if hydride_redraws else None
    for attempt in range(hydride_redraws + 1):
        types = torch.multinomial(p, num_atoms, replacement=True, generator=generator)
        types = torch.sort(types + 1).values
        if metals is None or attempt == hydride_redraws or _is_hydride(types, metals):
            return types
    return types  # pragma: no cover - the loop always returns


def largest_remainder_counts(
    probs: Tensor, total: int, min_expected_atoms: float = 0.0
) -> Tensor:
    """Return integer counts summing to ``total`` that follow ``probs`` best.

    Elements expected to hold fewer than ``min_expected_atoms`` atoms are
    dropped first (the most probable element always stays), so a blurred
    composition head does not sprinkle single atoms of many elements.
    """
    keep = probs * total >= min_expected_atoms
    keep[torch.argmax(probs)] = True
    probs = torch.where(keep, probs, torch.zeros_like(probs))
    probs = probs / probs.sum()
    exact = probs * total
    counts = torch.floor(exact).long()
    missing = total - int(counts.sum())
    if missing > 0:
        order = torch.argsort(exact - counts, descending=True)
        counts[order[:missing]] += 1
    return counts


def _with_hydride_elements(probs: Tensor, order: Tensor, k: int) -> Tensor:
    """Return the ``k`` most probable elements, hydrogen and a metal among them."""
    from pymatgen.core import Element

    from matforge.core.chemistry import is_metal

    ranked = [int(i) for i in order if probs[i] > 0]
    top = ranked[:k]
    must = []
    if 0 in ranked:
        must.append(0)
    metal = next((i for i in ranked if is_metal(Element.from_Z(i + 1).symbol)), None)
    if metal is not None:
        must.append(metal)
    for index in must:
        if index not in top:
            rest = [i for i in top if i not in must]
            if rest and len(top) >= k:
                top.remove(rest[-1])
            top.append(index)
    top.sort(key=lambda i: -float(probs[i]))
    return torch.tensor(top, dtype=torch.long)


def hydride_mask(symbols: tuple[str, ...], vectors: np.ndarray) -> np.ndarray:
    """Return which count vectors over ``symbols`` hold H and at least one metal."""
    from matforge.core.chemistry import is_metal

    is_h = np.array([s == "H" for s in symbols])
    metal = np.array([is_metal(s) for s in symbols])
    has_h = (
        (vectors[:, is_h] > 0).any(-1) if is_h.any() else np.zeros(len(vectors), bool)
    )
    has_metal = (
        (vectors[:, metal] > 0).any(-1) if metal.any() else np.zeros(len(vectors), bool)
    )
    return has_h & has_metal


def decode_composition(
    element_probs: Tensor,
    atom_count_probs: Tensor,
    *,
    generator: torch.Generator | None = None,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    atom_count_candidates: int = DEFAULT_ATOM_COUNT_CANDIDATES,
    balanced: bool = True,
    log_prob_window: float = 12.0,
    hydride: bool = False,
) -> tuple[int, dict[int, int]]:
    """Return an integer composition, drawn or the most probable one.

    The candidates are every count vector ``c`` over the ``max_elements``
    most probable elements for each of the ``atom_count_candidates`` most
    probable atom counts ``N``, weighted by
    ``P(N) * Multinomial(c | N, p)`` (the law of the per-atom draw).
    With ``balanced`` only :func:`charge_balanced` candidates are kept, that
    is the law is conditioned on the chemical rule; candidates less probable
    than ``exp(-log_prob_window)`` times the best are ignored. When no
    candidate is balanced the rule is dropped rather than the crystal.

    Parameters
    ----------
    element_probs
        ``(MAX_Z,)`` probabilities of atomic numbers 1..MAX_Z (elements
        outside the vocabulary already zero).
    atom_count_probs
        ``(max_atoms + 1,)`` probabilities of the atom count (index 0 unused).
    generator
        Draw a composition with this generator; None takes the most
        probable one.
    max_elements
        Elements considered, the most probable first.
    atom_count_candidates
        Atom counts considered, the most probable first.
    balanced
        Condition on :func:`charge_balanced`.
    log_prob_window
        Candidates this far (natural log) below the best are ignored.
    hydride
        Condition on holding hydrogen and at least one metal (the platform's
        scope): hydrogen and the most probable metal join the elements
        considered (in place of the least probable) when the head gives them
        any probability, and the law is renormalised over the candidates with
        both, before the window; dropped when no candidate has both.

    Returns
    -------
    tuple[int, dict[int, int]]
        The atom count and ``{atomic number: count}``.
    """
    from pymatgen.core import Element

    probs = element_probs.detach().double().cpu()
    k = int(min(max_elements, int((probs > 0).sum())))
    order = torch.argsort(probs, descending=True)
    top = order[:k]
    if hydride:
        top = _with_hydride_elements(probs, order, k)
        k = len(top)
    log_p = torch.log(probs[top].clamp_min(1e-300)).numpy()
    numbers = [int(i) + 1 for i in top]
    symbols = tuple(Element.from_Z(z).symbol for z in numbers)
    count_probs = atom_count_probs.detach().double().cpu().clone()
    count_probs[0] = 0.0
    n_order = torch.argsort(count_probs, descending=True)[:atom_count_candidates]
    sizes, blocks, scores = [], [], []
    for n in (int(i) for i in n_order):
        if n < 1 or count_probs[n] <= 0:
            continue
        vectors = _count_vectors(k, n)
        log_fact = np.array([math.lgamma(c + 1) for c in range(n + 1)])
        scores.append(
            math.log(float(count_probs[n]))
            + vectors @ log_p
            - log_fact[vectors].sum(-1)
            + math.lgamma(n + 1)
        )
        blocks.append(vectors)
        sizes.append(np.full(len(vectors), n))
    if not blocks:
        raise ValueError("the atom-count distribution gives no positive count")
    vectors = np.concatenate(blocks)
    score = np.concatenate(scores)
    total = np.concatenate(sizes)
    allowed = np.ones(len(vectors), dtype=bool)
    if hydride:
        allowed = hydride_mask(symbols, vectors)
        if not allowed.any():
            allowed[:] = True
    best = score[allowed].max()
    keep = np.flatnonzero(allowed & (score >= best - log_prob_window))
    if balanced:
        ok = [
            i
            for i in keep
            if charge_balanced(symbols, tuple(int(c) for c in vectors[i]))
        ]
        if ok:
            keep = np.asarray(ok)
    if generator is None:
        pick = int(keep[np.argmax(score[keep])])
    else:
        weights = torch.from_numpy(np.exp(score[keep] - score[keep].max()))
        pick = int(keep[int(torch.multinomial(weights, 1, generator=generator))])
    counts = vectors[pick]
    return int(total[pick]), {
        z: int(c) for z, c in zip(numbers, counts, strict=True) if c > 0
    }
