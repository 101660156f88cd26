"""Competing phases on one energy scale: MP's legacy corrections moved to MP2020.

Why a move is needed
--------------------
The offline competing phases (``mp_formation_energies.csv.gz``, a 2019-2020
Materials Project snapshot) carry MP's *legacy* corrections
(``MaterialsProjectCompatibility``); the Materials Project today, the stored
hydrides and every ML formation energy of matforge are on the *MP2020* scale
(``MaterialsProject2020Compatibility``). Both schemes start from the same GGA /
GGA+U total energies; they differ only in what they add. A formation energy per
atom is ``E_form = (E_raw + C(c) - sum_el n_el mu_el) / N``, so, for a compound
of composition ``c`` with ``N`` atoms,

``E_form(MP2020) - E_form(legacy) =
[C_2020(c) - C_legacy(c) - sum_g n_g (mu_raw,g - mu_fit,g)] / N``

with these terms (the constants are read from pymatgen's ``MPCompatibility.yaml``
and ``MP2020Compatibility.yaml``, never written here):

* **gas references** (H, N, F, Cl; legacy ``GasCorrection``): the legacy scheme
  replaces the energy of the elements H2, N2, F2, Cl2 by fitted values
  (``CompoundEnergies``: -3.240, -7.952, -1.421, -1.254 eV/atom); MP2020 uses
  the raw GGA energy of the element's ground state (given here as
  ``gas_references``; MP's are -3.393, -8.336, -1.911, -1.849 eV/atom). Every
  atom of these elements in a compound, whatever its oxidation state, moves the
  formation energy by ``-(mu_raw - mu_fit)``: +0.153 eV per H, +0.384 per N,
  +0.491 per F, +0.595 per Cl.
* **oxygen**: both schemes correct every O atom by the oxide type (oxide and
  hydroxide alike, peroxide, superoxide, ozonide). From a composition the type is
  taken as pymatgen does without a structure (its lists of common peroxides,
  superoxides and ozonides, else oxide): -0.702 (legacy) against -0.687 (MP2020)
  eV per oxide O, +0.015 eV per O.
* **sulfur**: both correct sulfide S only (-0.663 legacy, -0.503 MP2020: +0.160
  eV per S); S with more electronegative neighbours (sulfates, sulfites) is not
  corrected in either. Where S is the most electronegative element it is a
  sulfide; otherwise the oxidation-state guess decides (S below 0: sulfide).
* **MP2020 anion corrections** (Br, I, Se, Si, Sb, Te, H, N, F, Cl; none in the
  legacy scheme): applied with pymatgen's own rule to an element that is an
  anion, i.e. whose guessed oxidation state (``oxi_state_guesses(max_sites=-20)``,
  first guess) is -1 or below, or, where it has no negative guess, that is the
  most electronegative element (-0.179 eV per hydride H, -0.462 per F, ...).
* **GGA/GGA+U mixing** (``UCorrections`` / ``GGAUMixingCorrections``): when O
  or F is the most electronegative element, every atom of V, Cr, Mn, Fe, Co, Ni,
  Mo, W is corrected in both schemes, by different values; per metal atom the
  move is Fe +0.477, Ni -0.377, Mo +0.329, Co +0.236, W -0.087, V -0.018, Cr
  +0.014, Mn +0.013 eV.

Which entries are not moved
---------------------------
Two decisions MP made from the structure cannot always be repeated from a
composition. pymatgen's own fallback is used for them (an unguessed S is a
sulfate; without a guess only the most electronegative element is an anion), and
the largest error a wrong decision could make is kept as
:attr:`ScaleShift.uncertainty`:

* sulfur beside a more electronegative element whose oxidation states cannot be
  guessed: sulfide or sulfate is unknown (0.160 eV per S atom);
* an element with an MP2020 anion correction that is not the most
  electronegative element, in a composition pymatgen cannot guess oxidation
  states for (more than 20 atoms in the reduced formula, or no charge-balanced
  assignment): MP decided it from the structure's oxidation states (its anion
  correction per atom, e.g. 0.179 eV per H, 0.192 per Sb, 0.071 per Si).

An entry whose uncertainty exceeds ``max_uncertainty`` (:data:`MAX_UNCERTAINTY`,
0.05 eV/atom, half the 0.1 eV/atom stability window of MatterGen's S.U.N. rate)
is left out (:attr:`ScaleShift.reliable` False, with the reason); below that it
is moved with the fallback. Leaving out more would open holes in the hulls: a
missing competing phase makes a candidate look more stable than it is. On the
MP-20 sample (MP2020 values of the same MP ids) the fallback was right within
0.02 eV/atom for 14 of the 16 entries it decided (the two misses: Sb beside Au
or Te, which MP took as an anion). Over the whole offline file 4,300 of 84,295
entries are left out (1,390 for H, 729 for S, the rest for Cl, N, Se, Te, Sb, Br,
I, Si); 26,746 move by more than 0.02 eV/atom, 8,359 by more than 0.1, the
largest by 0.52 (chlorides, bromides, fluorides: MP2020's anion corrections).

The oxide type is never a reason: the schemes differ by at most 0.03 eV per O
atom between types. Elements are never moved (0 eV/atom in both schemes).

How well it works
-----------------
On the MP-20 sample (MP2020 values of 702 MP ids that the offline file holds,
all chemistries) the legacy values agree to a median of 0.010 eV/atom, 68 %
within 0.02; moved, to 0.004 eV/atom, 96 % within 0.02 (the 201 entries that
move by more than 0.02: from 3 % to 93 % within 0.02; ``bench/phases_scale.py``).
What the move cannot see: an entry MP recomputed between the snapshot and today
differs by whatever the recalculation changed (LaEuZn2, KEuSiS4: 0.7-1.5
eV/atom). One systematic residual remains: GGA+U compounds of Ni (oxides,
fluorides) move by -0.377 eV per Ni but MP2020 lies about 0.15-0.36 eV per Ni
above the moved value (6 of 6 such MP-20 entries, +0.016 to +0.057 eV/atom); the
move still brings each of them closer, and such phases are kept.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from pymatgen.core import Composition, Element

LEGACY = "MP legacy (MaterialsProjectCompatibility)"
MP2020 = "MP2020 (MaterialsProject2020Compatibility)"
GAS_ELEMENTS = ("H", "N", "F", "Cl")
"""Elements whose legacy reference is a fitted gas energy."""
U_ANIONS = ("O", "F")
ANION_ORDER = ("Br", "I", "Se", "Si", "Sb", "Te", "H", "N", "F", "Cl")
"""MP2020's anion corrections, in the order pymatgen applies them."""
MAX_GUESS_SITES = -20
"""pymatgen's limit for oxidation-state guesses (reduced formula, 20 atoms)."""
MAX_UNCERTAINTY = 0.05
"""eV/atom: an entry whose move could be wrong by more is left out."""


@dataclass(frozen=True)
class CorrectionSchemes:
    """The constants of both MP correction schemes (eV per atom of the element).

    Attributes
    ----------
    legacy_oxide
        Legacy oxide-type corrections (oxide, peroxide, superoxide, ozonide).
    legacy_sulfide
        Legacy sulfide correction.
    legacy_u
        Legacy GGA+U corrections, anion (O, F) to metal to value.
    legacy_gas
        Legacy fitted energies of the gas elements (H, N, F, Cl), eV/atom.
    mp2020_composition
        MP2020 composition corrections (oxide types, S and the anions).
    mp2020_u
        MP2020 GGA/GGA+U mixing corrections, anion to metal to value.
    peroxides, superoxides, ozonides
        pymatgen's formula lists that type an oxide without a structure.
    """

    legacy_oxide: Mapping[str, float]
    legacy_sulfide: float
    legacy_u: Mapping[str, Mapping[str, float]]
    legacy_gas: Mapping[str, float]
    mp2020_composition: Mapping[str, float]
    mp2020_u: Mapping[str, Mapping[str, float]]
    peroxides: frozenset[str] = frozenset()
    superoxides: frozenset[str] = frozenset()
    ozonides: frozenset[str] = frozenset()

    def oxide_type(self, reduced_formula: str) -> str:
        """Return the oxide type of a formula as pymatgen types it without a cell."""
        if reduced_formula in self.peroxides:
            return "peroxide"
        if reduced_formula in self.superoxides:
            return "superoxide"
        if reduced_formula in self.ozonides:
            return "ozonide"
        return "oxide"


@cache
def correction_schemes() -> CorrectionSchemes:
    """Return both schemes' constants, read from pymatgen's own files (cached).

    Returns
    -------
    CorrectionSchemes
        Legacy values from ``MPCompatibility.yaml``, MP2020 values from
        ``MP2020Compatibility.yaml``, the oxide formula lists from pymatgen's
        ``UCorrection``.
    """
    import inspect

    from monty.serialization import loadfn
    from pymatgen.entries import compatibility

    folder = Path(inspect.getfile(compatibility.MaterialsProjectCompatibility)).parent
    legacy: dict[str, Any] = loadfn(folder / "MPCompatibility.yaml")
    mp2020: dict[str, Any] = loadfn(folder / "MP2020Compatibility.yaml")
    advanced = legacy["Advanced"]
    corrections = mp2020["Corrections"]
    gas = {}
    for formula, value in advanced["CompoundEnergies"].items():
        (symbol,) = Composition(formula).elements
        gas[symbol.symbol] = float(value)
    u_class = compatibility.UCorrection
    return CorrectionSchemes(
        legacy_oxide={k: float(v) for k, v in legacy["OxideCorrections"].items()},
        legacy_sulfide=float(legacy["SulfideCorrections"]["sulfide"]),
        legacy_u=_nested(advanced["UCorrections"]),
        legacy_gas=gas,
        mp2020_composition={
            k: float(v) for k, v in corrections["CompositionCorrections"].items()
        },
        mp2020_u=_nested(corrections["GGAUMixingCorrections"]),
        peroxides=frozenset(u_class.common_peroxides),
        superoxides=frozenset(u_class.common_superoxides),
        ozonides=frozenset(u_class.ozonides),
    )


def _nested(table: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    return {
        anion: {m: float(v) for m, v in row.items()} for anion, row in table.items()
    }


@dataclass(frozen=True)
class ScaleShift:
    """How much an entry's formation energy moves from legacy to MP2020.

    Attributes
    ----------
    shift
        eV/atom to add to the legacy formation energy (with pymatgen's fallback
        for the decisions a composition cannot make).
    terms
        Each contribution, eV/atom, by name (``gas H``, ``oxide``, ``sulfide``,
        ``anion F``, ``U Fe``).
    uncertainty
        The largest error, eV/atom, that those undecidable choices could make.
    reliable
        Whether ``uncertainty`` is within the allowed bound.
    reason
        The undecidable choices, when there are any; empty otherwise.
    """

    shift: float
    terms: Mapping[str, float] = field(default_factory=dict)
    uncertainty: float = 0.0
    reliable: bool = True
    reason: str = ""


@lru_cache(maxsize=200_000)
def _first_guess(reduced_formula: str) -> tuple[tuple[str, float], ...] | None:
    """Return pymatgen's first oxidation-state guess, or None when it has none."""
    try:
        guesses = Composition(reduced_formula).oxi_state_guesses(
            max_sites=MAX_GUESS_SITES
        )
    except ValueError:  # more atoms than pymatgen guesses for
        return None
    if not guesses:
        return None
    return tuple(sorted((el, float(v)) for el, v in guesses[0].items()))


class _Move:
    """The terms of one move, collected per atom of the compound."""

    def __init__(self, composition: Composition, schemes: CorrectionSchemes) -> None:
        self.schemes = schemes
        self.amounts = {el.symbol: float(n) for el, n in composition.items() if n > 0}
        self.total = sum(self.amounts.values())
        self.reduced = composition.reduced_formula
        with warnings.catch_warnings():  # He, Ne, Ar: no electronegativity
            warnings.simplefilter("ignore")
            by_x = sorted(self.amounts, key=lambda s: Element(s).X)
        self.most_negative = by_x[-1] if by_x else ""
        needs_guess = any(a in self.amounts for a in ANION_ORDER) or (
            "S" in self.amounts and self.most_negative != "S"
        )
        self.guess = dict(_first_guess(self.reduced) or ()) if needs_guess else {}
        self.terms: dict[str, float] = {}
        self.doubts: list[str] = []
        self.uncertainty = 0.0

    def add(self, name: str, value: float) -> None:
        """Add a term given in eV per formula unit of the composition."""
        if value:
            self.terms[name] = self.terms.get(name, 0.0) + value / self.total

    def doubt(self, reason: str, largest_error: float) -> None:
        """Note an undecidable choice and its largest error (eV per formula)."""
        self.doubts.append(reason)
        self.uncertainty += abs(largest_error) / self.total

    def gas(self, gas_references: Mapping[str, float]) -> None:
        """Add the legacy fitted gas references against MP2020's raw ones."""
        for gas in GAS_ELEMENTS:
            if gas in self.amounts:
                raw = float(gas_references[gas])
                fitted = self.schemes.legacy_gas[gas]
                self.add(f"gas {gas}", -self.amounts[gas] * (raw - fitted))

    def oxygen(self) -> None:
        """Add the oxide-type corrections of both schemes."""
        if "O" in self.amounts:
            kind = self.schemes.oxide_type(self.reduced)
            new = self.schemes.mp2020_composition[kind]
            old = self.schemes.legacy_oxide.get(kind, 0.0)
            self.add("oxide", self.amounts["O"] * (new - old))

    def sulfur(self) -> None:
        """Add the sulfide corrections of both schemes (none for sulfates)."""
        if "S" not in self.amounts:
            return
        delta = self.schemes.mp2020_composition["S"] - self.schemes.legacy_sulfide
        sulfide = self.most_negative == "S" or self.guess.get("S", 0.0) < 0
        if self.most_negative != "S" and not self.guess:
            self.doubt(
                "sulfide or sulfate: S is not the most electronegative element "
                "and no oxidation state can be guessed",
                delta * self.amounts["S"],
            )
        if sulfide:
            self.add("sulfide", self.amounts["S"] * delta)

    def anions(self) -> None:
        """Add MP2020's anion corrections, by pymatgen's rule."""
        for anion in ANION_ORDER:
            if anion not in self.amounts:
                continue
            correction = self.schemes.mp2020_composition.get(anion)
            if correction is None:
                continue
            state = self.guess.get(anion, 0.0)
            if state < 0:
                applies = state <= -1  # pymatgen's strict_anions="require_bound"
            else:
                applies = anion == self.most_negative
                if not self.guess and not applies:
                    self.doubt(
                        f"anion {anion} or not: it is not the most "
                        "electronegative element and no oxidation state can be "
                        "guessed",
                        correction * self.amounts[anion],
                    )
            if applies:
                self.add(f"anion {anion}", self.amounts[anion] * correction)

    def hubbard(self) -> None:
        """Add the GGA/GGA+U mixing corrections of both schemes."""
        if self.most_negative not in U_ANIONS:
            return
        new_u = self.schemes.mp2020_u.get(self.most_negative, {})
        old_u = self.schemes.legacy_u.get(self.most_negative, {})
        for metal, amount in self.amounts.items():
            if metal in new_u or metal in old_u:
                delta = new_u.get(metal, 0.0) - old_u.get(metal, 0.0)
                self.add(f"U {metal}", amount * delta)


def legacy_to_mp2020_shift(
    composition: Composition,
    gas_references: Mapping[str, float],
    schemes: CorrectionSchemes | None = None,
    max_uncertainty: float = MAX_UNCERTAINTY,
) -> ScaleShift:
    """Return the move of a legacy MP formation energy to the MP2020 scale.

    Parameters
    ----------
    composition
        The compound (any cell; the move per atom does not depend on Z).
    gas_references
        Raw MP GGA energy per atom of the ground state of each gas element
        present (H, N, F, Cl), eV/atom: MP2020's element references
        (``energy_per_atom`` of ``mp_elemental_references.json.gz``).
    schemes
        The correction constants; pymatgen's (:func:`correction_schemes`) when
        None.
    max_uncertainty
        eV/atom: a larger possible error makes the move not reliable.

    Returns
    -------
    ScaleShift
        The shift in eV/atom (``E_form(MP2020) = E_form(legacy) + shift``),
        its terms, its uncertainty, and whether it is reliable.

    Raises
    ------
    KeyError
        If a gas element of the composition has no entry in ``gas_references``.
    ValueError
        If the composition is empty.
    """
    move = _Move(composition, schemes or correction_schemes())
    if move.total <= 0:
        raise ValueError(f"empty composition {composition!r}")
    if len(move.amounts) == 1:
        return ScaleShift(0.0)
    missing = [g for g in GAS_ELEMENTS if g in move.amounts and g not in gas_references]
    if missing:
        raise KeyError(f"no raw MP reference energy for {', '.join(missing)}")
    move.gas(gas_references)
    move.oxygen()
    move.sulfur()
    move.anions()
    move.hubbard()
    return ScaleShift(
        shift=math.fsum(move.terms.values()),
        terms=move.terms,
        uncertainty=move.uncertainty,
        reliable=move.uncertainty <= max_uncertainty,
        reason="; ".join(move.doubts),
    )


def to_mp2020(
    composition: Composition,
    e_form_legacy: float,
    gas_references: Mapping[str, float],
    schemes: CorrectionSchemes | None = None,
    max_uncertainty: float = MAX_UNCERTAINTY,
) -> float | None:
    """Return a legacy MP formation energy per atom on the MP2020 scale.

    Parameters
    ----------
    composition
        The compound.
    e_form_legacy
        Its formation energy per atom with MP's legacy corrections, eV/atom.
    gas_references
        Raw MP energies per atom of H, N, F, Cl (:func:`legacy_to_mp2020_shift`).
    schemes
        The correction constants (pymatgen's when None).
    max_uncertainty
        eV/atom: a move that could be wrong by more is refused.

    Returns
    -------
    float or None
        The MP2020 formation energy per atom; None when the move is not
        reliable from the composition (:class:`ScaleShift`).
    """
    move = legacy_to_mp2020_shift(composition, gas_references, schemes, max_uncertainty)
    if not move.reliable:
        return None
    return float(e_form_legacy) + move.shift
