"""The Hydrogen Storage Score.

``S = w_H * f(E_form)``: the hydrogen weight fraction times an energy factor
that rewards stable (negative formation energy) compounds. The published work
does not give ``f``; matforge uses a smooth, decreasing Gaussian tail,

    f(E) = Phi((E_0 - E) / sigma) = 0.5 * erfc((E - E_0) / (sqrt(2) sigma)),

the probability that a formation energy with Gaussian uncertainty ``sigma``
lies below the threshold ``E_0``. The parameters are settings
(:class:`matforge.settings.ScoreSettings`, where their defaults are defined
once): with the defaults it reproduces every row of the published candidates
table within its rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pymatgen.core import Composition, Element


@dataclass(frozen=True)
class StorageScore:
    """A storage score with the two factors it is made of."""

    formula: str
    h_weight_fraction: float
    energy_factor: float
    storage_score: float


def h_weight_fraction(composition: Composition | str) -> float:
    """Return the mass fraction of hydrogen in a composition.

    Parameters
    ----------
    composition
        A pymatgen ``Composition`` or a formula such as ``"MgH2"``.

    Returns
    -------
    float
        Hydrogen mass over total mass, between 0 and 1.
    """
    comp = Composition(composition) if isinstance(composition, str) else composition
    if comp.num_atoms <= 0:
        raise ValueError(f"composition {composition!r} holds no atoms")
    return float(comp.get_wt_fraction(Element("H")))


def energy_factor(
    formation_energy_per_atom: float,
    e_threshold: float,
    sigma: float,
) -> float:
    """Return the energy factor ``f(E)``, smooth and decreasing, in (0, 1).

    Parameters
    ----------
    formation_energy_per_atom
        Formation energy in eV/atom.
    e_threshold
        Energy (eV/atom) at which the factor is one half.
    sigma
        Gaussian width (eV/atom).

    Returns
    -------
    float
        The energy factor.
    """
    energy = float(formation_energy_per_atom)
    if not math.isfinite(energy):
        raise ValueError(f"formation energy must be a finite number, got {energy}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return 0.5 * math.erfc((energy - e_threshold) / (math.sqrt(2.0) * sigma))


def storage_score(
    composition: Composition | str,
    formation_energy_per_atom: float,
    e_threshold: float,
    sigma: float,
) -> StorageScore:
    """Return the Hydrogen Storage Score of a composition.

    Parameters
    ----------
    composition
        The composition or formula (``"Ti2H4"``).
    formation_energy_per_atom
        Formation energy in eV/atom.
    e_threshold, sigma
        Parameters of :func:`energy_factor`.

    Returns
    -------
    StorageScore
        The weight fraction, the energy factor and their product.
    """
    comp = Composition(composition) if isinstance(composition, str) else composition
    w_h = h_weight_fraction(comp)
    factor = energy_factor(formation_energy_per_atom, e_threshold, sigma)
    return StorageScore(
        formula=comp.formula.replace(" ", ""),
        h_weight_fraction=w_h,
        energy_factor=factor,
        storage_score=w_h * factor,
    )


def score_of_formula(
    formula: str, formation_energy_per_atom: float, e_threshold: float, sigma: float
) -> StorageScore:
    """Return the storage score of a formula written by a person.

    Raises
    ------
    ValueError
        If the formula cannot be read, names something that is not an element,
        holds no hydrogen, or the energy is not a finite number; the message
        names the input.
    """
    from matforge.core.chemistry import unknown_species

    try:
        comp = Composition(formula)
    except (ValueError, KeyError) as exc:
        raise ValueError(f"cannot read formula {formula!r}: {exc}") from None
    unknown = unknown_species(comp)
    if unknown:
        raise ValueError(
            f"cannot read formula {formula!r}: unknown element(s) {', '.join(unknown)}"
        )
    if comp["H"] == 0:
        raise ValueError(f"{formula} holds no hydrogen")
    return storage_score(comp, formation_energy_per_atom, e_threshold, sigma)
