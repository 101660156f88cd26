"""New hydride structures from known ones by chemical substitution (pure).

An element ``A`` of a parent hydride (carrying the charge ``q`` that the
parent's oxidation-state guess gives it, or its most common positive
oxidation state) is replaced by an element ``B`` of the configured pools when
``B`` is known as a ``q`` ion too: the charge balance of the parent is kept.
Pairs are ranked by pymatgen's ``SubstitutionProbability`` (Hautier et al.'s
ICSD-learned model), ``P(B^q | A^q)``; the cell is scaled by the change of
atomic volumes so that relaxations start near their end.

Proposals carry a deterministic id (parent and substitution), so the same
parents always give the same proposals in the same order.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pymatgen.core import Composition, Element, Species, Structure

from matforge.schemas.common import content_hash

POOLS: dict[str, tuple[str, ...]] = {
    "alkali": ("Li", "Na", "K", "Rb", "Cs"),
    "alkaline_earth": ("Be", "Mg", "Ca", "Sr", "Ba"),
    "transition_metals": (
        *("Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn"),
        *("Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd"),
        *("Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg"),
    ),
    "rare_earths": (
        *("Sc", "Y", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd"),
        *("Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu"),
    ),
}
"""Named element pools; a pool may also be a single element symbol."""

PROPOSAL_PREFIX = "mf-sub-"


def pool_elements(pools: Iterable[str]) -> list[str]:
    """Return the element symbols of some pools (names or symbols), in order.

    Raises
    ------
    ValueError
        If a pool is neither a known name nor an element symbol.
    """
    symbols: list[str] = []
    for pool in pools:
        if pool in POOLS:
            symbols.extend(POOLS[pool])
        elif Element.is_valid_symbol(pool):
            symbols.append(pool)
        else:
            raise ValueError(
                f"unknown element pool {pool!r}; pools: {', '.join(POOLS)} or "
                "element symbols"
            )
    return list(dict.fromkeys(symbols))


@dataclass(frozen=True)
class Proposal:
    """A substituted structure waiting to be relaxed."""

    proposal_id: str
    parent_id: str
    substitution: tuple[tuple[str, str], ...]
    probability: float
    structure: Structure

    @property
    def label(self) -> str:
        """E.g. ``mp-24 Li->Na``."""
        pairs = ", ".join(f"{a}->{b}" for a, b in self.substitution)
        return f"{self.parent_id} {pairs}"


def proposal_id(parent_id: str, substitution: Sequence[tuple[str, str]]) -> str:
    """Return the deterministic id of a proposal."""
    return PROPOSAL_PREFIX + content_hash([parent_id, sorted(substitution)])[:12]


@cache
def _probability_model() -> Any:
    from pymatgen.analysis.structure_prediction.substitution_probability import (
        SubstitutionProbability,
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SubstitutionProbability()


def _charges(composition: Composition) -> dict[str, int]:
    """Return a charge for every non-H element: a guess, or its usual state."""
    charges: dict[str, int] = {}
    if len(composition.elements) <= 4:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            guesses = composition.oxi_state_guesses(max_sites=-20)
        if guesses:
            charges = {el: round(q) for el, q in guesses[0].items() if el != "H"}
    for el in composition.elements:
        if el.symbol == "H" or charges.get(el.symbol):
            continue
        positive = [q for q in el.common_oxidation_states if q > 0]
        states = positive or list(el.common_oxidation_states) or [0]
        charges[el.symbol] = max(states) if positive else states[0]
    return charges


def _atomic_volume(symbol: str) -> float:
    radius = Element(symbol).atomic_radius or Element(symbol).atomic_radius_calculated
    return float(radius or 1.5) ** 3


def substituted(structure: Structure, substitution: dict[str, str]) -> Structure:
    """Replace elements and scale the cell by the change in atomic volumes."""
    new = structure.copy()
    old_volume = sum(_atomic_volume(site.specie.symbol) for site in structure)
    new.replace_species(substitution)
    new_volume = sum(_atomic_volume(site.specie.symbol) for site in new)
    new.scale_lattice(structure.volume * new_volume / old_volume)
    return new


def propose_substitutions(
    parents: Sequence[tuple[str, Structure]],
    elements: Sequence[str],
    *,
    min_probability: float = 1e-3,
    per_parent: int = 12,
) -> list[Proposal]:
    """Propose single-element substitutions of parent hydrides.

    Parameters
    ----------
    parents
        (material_id, structure) of the parents.
    elements
        Elements that may be put in (the pools).
    min_probability
        Smallest accepted ``P(B^q | A^q)``.
    per_parent
        Most proposals kept per parent (the most probable ones).

    Returns
    -------
    list of Proposal
        Round-robin over the parents: every parent's best proposal first, then
        every parent's second best, ...; within a round smaller cells first
        (cheaper to relax), then by probability and id.
    """
    model = _probability_model()
    known = {str(sp) for sp in model.species}
    ranked: list[tuple[int, int, float, str, Proposal]] = []
    for parent_id, structure in parents:
        present = {el.symbol for el in structure.composition.elements}
        options: list[tuple[float, str, str]] = []
        for old, charge in sorted(_charges(structure.composition).items()):
            if old == "H" or charge == 0:
                continue
            old_ion = Species(old, charge)
            if str(old_ion) not in known:
                continue
            for new in elements:
                if new in present:
                    continue
                new_ion = Species(new, charge)
                if str(new_ion) not in known:
                    continue
                prob = float(model.cond_prob(new_ion, old_ion))
                if prob >= min_probability:
                    options.append((prob, old, new))
        options.sort(key=lambda o: (-o[0], o[1], o[2]))
        for rank, (prob, old, new) in enumerate(options[:per_parent]):
            pairs = ((old, new),)
            proposal = Proposal(
                proposal_id=proposal_id(parent_id, pairs),
                parent_id=parent_id,
                substitution=pairs,
                probability=prob,
                structure=substituted(structure, {old: new}),
            )
            ranked.append((rank, len(structure), -prob, proposal.proposal_id, proposal))
    ranked.sort(key=lambda item: item[:4])
    return [item[4] for item in ranked]


def dedupe(
    proposals: Sequence[Proposal],
    existing: Iterable[tuple[str, Structure]],
) -> tuple[list[Proposal], dict[str, str]]:
    """Drop proposals that match a known structure or an earlier proposal.

    Structures are compared with pymatgen's ``StructureMatcher`` within groups
    of equal reduced formula.

    Parameters
    ----------
    proposals
        Proposals, in order of preference.
    existing
        (id, structure) of the known hydrides.

    Returns
    -------
    kept, duplicates
        The new proposals, and proposal id -> id of the structure it repeats.
    """
    groups = group_by_formula(existing)
    kept: list[Proposal] = []
    duplicates: dict[str, str] = {}
    for proposal in proposals:
        formula = proposal.structure.composition.reduced_formula
        match = find_match(proposal.structure, groups.get(formula, []))
        if match is not None:
            duplicates[proposal.proposal_id] = match
            continue
        groups.setdefault(formula, []).append(
            (proposal.proposal_id, proposal.structure)
        )
        kept.append(proposal)
    return kept, duplicates


def group_by_formula(
    structures: Iterable[tuple[str, Structure]],
) -> dict[str, list[tuple[str, Structure]]]:
    """Group (id, structure) pairs by reduced formula."""
    groups: dict[str, list[tuple[str, Structure]]] = defaultdict(list)
    for item_id, structure in structures:
        groups[structure.composition.reduced_formula].append((item_id, structure))
    return dict(groups)


@cache
def _matcher() -> Any:
    from pymatgen.analysis.structure_matcher import StructureMatcher

    return StructureMatcher()


def find_match(
    structure: Structure, candidates: Iterable[tuple[str, Structure]]
) -> str | None:
    """Return the id of the first candidate the structure matches, or None.

    ``StructureMatcher.fit`` is not symmetric (a relaxed CeH3 matched a known
    one only one way round): a match either way counts.
    """
    matcher = _matcher()
    for item_id, other in candidates:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if matcher.fit(structure, other) or matcher.fit(other, structure):
                return item_id
    return None
