"""Validity filters: which relaxed crystals are worth ranking."""

from __future__ import annotations

import math

from pymatgen.core import Composition, Structure

from matforge.core.checks import distance_problems, lattice_problems
from matforge.core.chemistry import is_charge_balanced, metal_hydride_problem


def candidate_problems(
    structure: Structure | None,
    composition: Composition,
    *,
    failed: bool = False,
    failure_reason: str | None = None,
    converged: bool = True,
    formation_energy_per_atom: float | None = None,
    e_above_hull: float | None = None,
    min_distance: float = 0.5,
    require_converged: bool = True,
    charge_neutrality: bool = True,
    oxidation_states: str = "all",
    metallic_exempt: bool = True,
    max_formation_energy_per_atom: float = 0.1,
    max_e_above_hull: float = 0.2,
) -> list[str]:
    """Return every reason why a relaxed crystal is not a valid candidate.

    Parameters
    ----------
    structure
        The relaxed crystal; None when the relaxation failed.
    composition
        Its composition (known even when the relaxation failed).
    failed, failure_reason
        Whether, and why, the relaxation failed.
    converged
        Whether the relaxation converged.
    formation_energy_per_atom, e_above_hull
        Energies of the relaxed crystal, eV/atom.
    min_distance
        Smallest accepted interatomic distance, angstrom.
    require_converged
        Reject relaxations that did not converge.
    charge_neutrality, oxidation_states, metallic_exempt
        The neutrality check (see :func:`~matforge.core.chemistry.is_charge_balanced`).
    max_formation_energy_per_atom, max_e_above_hull
        Energy thresholds, eV/atom (an unknown energy above the hull passes).

    Returns
    -------
    list of str
        Reasons, empty for a valid candidate.
    """
    if failed or structure is None:
        return [f"the relaxation failed: {failure_reason or 'no relaxed structure'}"]
    problems: list[str] = []
    if require_converged and not converged:
        problems.append("the relaxation did not converge")
    # the one metal-hydride rule of ingest, expansion and candidates
    not_a_hydride = metal_hydride_problem(structure)
    if not_a_hydride is not None:
        problems.append(not_a_hydride)
    geometry = lattice_problems(structure)
    problems += geometry or distance_problems(structure, min_distance)
    if charge_neutrality and not is_charge_balanced(
        composition, oxidation_states, metallic_exempt
    ):
        problems.append(
            f"{composition.reduced_formula} is not charge neutral with "
            f"{oxidation_states} oxidation states"
        )
    energy = formation_energy_per_atom
    if energy is None or not math.isfinite(energy):
        problems.append("the formation energy is unknown")
    elif energy > max_formation_energy_per_atom:
        problems.append(
            f"formation energy {energy:.3f} eV/atom is above the "
            f"{max_formation_energy_per_atom:g} allowed"
        )
    if e_above_hull is not None and (
        not math.isfinite(e_above_hull) or e_above_hull > max_e_above_hull
    ):
        problems.append(
            f"energy above the hull {e_above_hull:.3f} eV/atom is above the "
            f"{max_e_above_hull:g} allowed"
        )
    return problems
