"""Energies above the convex hull of competing phases, with decomposition products.

A crystal is judged against the phase diagram of its chemical system: every
competing phase whose elements are a subset of the crystal's (all sub-systems:
the binaries and ternaries of a quaternary included) plus each element at 0
eV/atom. All energies are formation energies per atom on one scale (MP2020,
see :mod:`matforge.core.phases`).

* ``e_above_hull``: the crystal's formation energy minus the hull's at its
  composition, eV/atom; negative below the hull (``allow_negative``), which
  then says by how much the crystal would lower the known hull.
* ``decomposition``: the hull phases the crystal would fall apart into, with the
  fraction of the crystal's atoms each one takes.
* ``stable``: ``e_above_hull <= stable_tolerance``; ``metastable``: above that
  but within ``metastable_threshold``.

A crystal that is itself one of the phases (the same id) is left out of its own
hull. Phases are indexed by chemical system once (:class:`PhaseIndex`), and one
``PhaseDiagram`` is built per chemical system and kept (:class:`HullCalculator`),
so 1,000 crystals over 84,000 phases build one diagram per distinct system.
"""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import combinations

from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Element

ELEMENT_ID = "element:{symbol}"
"""Id of an element added at 0 eV/atom."""


def chemsys_of(composition: Composition) -> str:
    """Return the chemical system of a composition: sorted symbols joined by '-'."""
    return "-".join(sorted(el.symbol for el, n in composition.items() if n > 0))


def subsystems(chemsys: str) -> list[str]:
    """Return every non-empty sub-system of a chemical system (itself included).

    Parameters
    ----------
    chemsys
        Elements joined by '-' in any order, e.g. ``"H-O-Fe-Tm"``.

    Returns
    -------
    list of str
        The sub-systems, each with sorted elements, smallest first.
    """
    elements = sorted(set(filter(None, chemsys.split("-"))))
    return [
        "-".join(combo)
        for size in range(1, len(elements) + 1)
        for combo in combinations(elements, size)
    ]


@dataclass(frozen=True)
class Phase:
    """A competing phase: composition and formation energy per atom.

    Attributes
    ----------
    id
        Its id (an MP id, a hydride's material id); unique among the phases.
    composition
        Its composition (any multiple; only the ratio matters).
    e_form
        Formation energy per atom, eV/atom, on the scale of every other phase.
    source
        Where it comes from (``mp-offline``, ``mp-api``, ``hydrides``).
    """

    id: str
    composition: Composition
    e_form: float
    source: str = ""

    @property
    def formula(self) -> str:
        """Its reduced formula."""
        return self.composition.reduced_formula

    @property
    def chemsys(self) -> str:
        """Its chemical system."""
        return chemsys_of(self.composition)


class PhaseIndex:
    """Competing phases indexed by chemical system.

    Phases with a non-finite energy are skipped; a later phase with the id of an
    earlier one replaces it.

    Parameters
    ----------
    phases
        The phases.
    """

    def __init__(self, phases: Iterable[Phase] = ()) -> None:
        self._by_id: dict[str, Phase] = {}
        self._by_system: dict[str, dict[str, Phase]] = defaultdict(dict)
        self.add(phases)

    def add(self, phases: Iterable[Phase]) -> None:
        """Add phases (replacing those of the same id)."""
        for phase in phases:
            if not math.isfinite(phase.e_form):
                continue
            old = self._by_id.get(phase.id)
            if old is not None:
                del self._by_system[old.chemsys][old.id]
            self._by_id[phase.id] = phase
            self._by_system[phase.chemsys][phase.id] = phase

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Phase]:
        return iter(self._by_id.values())

    def get(self, phase_id: str) -> Phase | None:
        """Return the phase of an id, or None."""
        return self._by_id.get(phase_id)

    def systems(self) -> set[str]:
        """Return the chemical systems that hold at least one phase."""
        return {s for s, members in self._by_system.items() if members}

    def in_system(self, chemsys: str) -> list[Phase]:
        """Return the phases of a chemical system and all its sub-systems.

        Parameters
        ----------
        chemsys
            Elements joined by '-' in any order.

        Returns
        -------
        list of Phase
            Sorted by chemical system, then id.
        """
        found: list[Phase] = []
        for system in subsystems(chemsys):
            members = self._by_system.get(system)
            if members:
                found.extend(members[key] for key in sorted(members))
        return found


@dataclass(frozen=True)
class Decomposition:
    """One product of a decomposition.

    Attributes
    ----------
    id
        The product phase's id (``element:Fe`` for an element at 0 eV/atom).
    formula
        Its reduced formula.
    fraction
        The fraction of the crystal's atoms that goes into it (they sum to 1).
    """

    id: str
    formula: str
    fraction: float


@dataclass(frozen=True)
class HullResult:
    """A crystal against the hull of its chemical system.

    Attributes
    ----------
    e_above_hull
        eV/atom above the hull; negative below it.
    hull_energy
        The hull's formation energy at the crystal's composition, eV/atom.
    decomposition
        The hull phases at its composition, largest fraction first.
    stable
        Whether ``e_above_hull`` is within the stability tolerance.
    metastable
        Whether it is above that but within the metastability threshold.
    chemsys
        The chemical system.
    n_phases
        How many competing phases (elements included) built the hull.
    """

    e_above_hull: float
    hull_energy: float
    decomposition: tuple[Decomposition, ...]
    stable: bool
    metastable: bool
    chemsys: str
    n_phases: int = 0
    excluded_id: str | None = field(default=None)

    @property
    def decomposition_text(self) -> str:
        """The products as text, e.g. ``0.500 TmHO + 0.500 Fe``."""
        return " + ".join(f"{d.fraction:.3f} {d.formula}" for d in self.decomposition)


class HullCalculator:
    """Energies above the hull, one phase diagram per chemical system (cached).

    Parameters
    ----------
    phases
        The competing phases (an index, or phases to index).
    stable_tolerance
        eV/atom above the hull up to which a crystal is called stable.
    metastable_threshold
        eV/atom above the hull up to which a crystal is called metastable.
    max_cached
        Phase diagrams kept (least recently used dropped first).

    Raises
    ------
    ValueError
        If a tolerance is negative or not finite, or the metastability threshold
        is below the stability tolerance.
    """

    def __init__(
        self,
        phases: PhaseIndex | Iterable[Phase],
        *,
        stable_tolerance: float,
        metastable_threshold: float,
        max_cached: int = 4096,
    ) -> None:
        for name, value in (
            ("stable_tolerance", stable_tolerance),
            ("metastable_threshold", metastable_threshold),
        ):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        if metastable_threshold < stable_tolerance:
            raise ValueError(
                f"metastable_threshold ({metastable_threshold}) is below "
                f"stable_tolerance ({stable_tolerance})"
            )
        self.index = phases if isinstance(phases, PhaseIndex) else PhaseIndex(phases)
        self.stable_tolerance = float(stable_tolerance)
        self.metastable_threshold = float(metastable_threshold)
        self.max_cached = max_cached
        self._diagrams: OrderedDict[tuple[str, str | None], PhaseDiagram] = (
            OrderedDict()
        )
        self.built = 0
        """How many phase diagrams were built (a cache miss each)."""

    def add(self, phases: Iterable[Phase]) -> None:
        """Add phases (a crystal just accepted); diagrams they enter are rebuilt."""
        added = list(phases)
        self.index.add(added)
        touched = [set(p.chemsys.split("-")) for p in added]
        for key in list(self._diagrams):
            system = set(key[0].split("-"))
            if any(elements <= system for elements in touched):
                del self._diagrams[key]

    def _entries(self, chemsys: str, exclude: str | None) -> list[PDEntry]:
        entries = [
            PDEntry(
                Composition({symbol: 1}), 0.0, name=ELEMENT_ID.format(symbol=symbol)
            )
            for symbol in chemsys.split("-")
        ]
        for phase in self.index.in_system(chemsys):
            if phase.id == exclude:
                continue
            comp = phase.composition
            entries.append(PDEntry(comp, phase.e_form * comp.num_atoms, name=phase.id))
        return entries

    def diagram(self, chemsys: str, exclude: str | None = None) -> PhaseDiagram:
        """Return the phase diagram of a chemical system (built once, then kept).

        Parameters
        ----------
        chemsys
            Elements joined by '-' in any order.
        exclude
            A phase id to leave out.
        """
        key = ("-".join(sorted(chemsys.split("-"))), exclude)
        cached = self._diagrams.get(key)
        if cached is not None:
            self._diagrams.move_to_end(key)
            return cached
        diagram = PhaseDiagram(self._entries(key[0], exclude))
        self.built += 1
        self._diagrams[key] = diagram
        if len(self._diagrams) > self.max_cached:
            self._diagrams.popitem(last=False)
        return diagram

    def assess(
        self,
        composition: Composition,
        e_form: float,
        entry_id: str | None = None,
    ) -> HullResult:
        """Return a crystal's energy above the hull and its decomposition.

        Parameters
        ----------
        composition
            The crystal's composition.
        e_form
            Its formation energy per atom, eV/atom, on the phases' scale.
        entry_id
            Its id when it may be one of the phases: that phase is left out.

        Returns
        -------
        HullResult
            Energy above the hull, hull energy, decomposition and flags.

        Raises
        ------
        ValueError
            If the composition is empty or holds something that is not an
            element, or the energy is not finite.
        """
        if not math.isfinite(e_form):
            raise ValueError(f"formation energy {e_form} is not finite")
        if composition.num_atoms <= 0:
            raise ValueError(f"empty composition {composition!r}")
        for species in composition:
            if not isinstance(species, Element):
                raise ValueError(
                    f"composition {composition.formula} holds {species}, "
                    "which is not an element"
                )
        chemsys = chemsys_of(composition)
        exclude = None
        if entry_id is not None:
            own = self.index.get(entry_id)
            if own is not None and set(own.chemsys.split("-")) <= set(
                chemsys.split("-")
            ):
                exclude = entry_id
        diagram = self.diagram(chemsys)
        if exclude is not None and any(
            e.name == exclude for e in diagram.stable_entries
        ):
            # only a hull phase changes the hull when left out
            diagram = self.diagram(chemsys, exclude)
        target = PDEntry(composition, e_form * composition.num_atoms, name="target")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decomp, e_hull = diagram.get_decomp_and_e_above_hull(
                target, allow_negative=True
            )
        e_hull = float(e_hull)
        products = tuple(
            sorted(
                (
                    Decomposition(
                        id=str(entry.name),
                        formula=entry.composition.reduced_formula,
                        fraction=float(amount),
                    )
                    for entry, amount in decomp.items()
                ),
                key=lambda d: (-d.fraction, d.id),
            )
        )
        stable = e_hull <= self.stable_tolerance
        return HullResult(
            e_above_hull=e_hull,
            hull_energy=float(e_form) - e_hull,
            decomposition=products,
            stable=stable,
            metastable=not stable and e_hull <= self.metastable_threshold,
            chemsys=chemsys,
            n_phases=len(diagram.all_entries),
            excluded_id=exclude,
        )
