"""Elemental reference energies computed with a potential (pure; no store)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from matforge.potentials.registry import PotentialError, PotentialSpec
from matforge.potentials.relax import run_potential
from matforge.schemas.common import BuildMeta
from matforge.schemas.potential import ElementalRefDoc, reference_id

if TYPE_CHECKING:
    from matforge.core.formation import ElementalReference
    from matforge.settings import PotentialSettings


def compute_references(
    references: Mapping[str, ElementalReference],
    elements: Iterable[str],
    spec: PotentialSpec,
    params: PotentialSettings,
    build: BuildMeta | None = None,
) -> list[ElementalRefDoc]:
    """Relax the MP reference structures of some elements with a potential.

    A reference whose relaxation does not converge keeps its last energy (the
    document says so in ``note``); one whose relaxation fails outright falls
    back to the energy of the unrelaxed MP structure.

    Parameters
    ----------
    references
        The MP elemental references by symbol.
    elements
        The elements wanted.
    spec
        The potential.
    params
        Relaxation settings.
    build
        Build metadata of the documents.

    Returns
    -------
    list of ElementalRefDoc
        One per element.

    Raises
    ------
    PotentialError
        If an element has no MP reference or even a single point fails.
    """
    wanted = list(dict.fromkeys(elements))
    missing = [el for el in wanted if el not in references]
    if missing:
        raise PotentialError(f"no MP reference structure for {', '.join(missing)}")
    structures = [references[el].structure for el in wanted]
    results = run_potential(structures, spec, params, relax=True)
    build = build or BuildMeta(
        inputs=["mp_elemental_references.json.gz"],
        settings={"potential": params.model_dump(mode="json")},
    )
    docs = []
    for element, result in zip(wanted, results, strict=True):
        note = None
        structure, energy = result.structure, result.energy_per_atom
        converged, steps, relaxed = result.converged, result.steps, True
        if not result.ok:
            note = f"relaxation: {result.error}"
            unconverged = (result.error or "").startswith("did not converge")
            if result.energy is None or not unconverged:
                static = run_potential(
                    [references[element].structure], spec, params, relax=False
                )[0]
                if not static.ok:
                    raise PotentialError(
                        f"{spec.name} cannot evaluate the {element} reference: "
                        f"{static.error}"
                    )
                structure, energy = static.structure, static.energy_per_atom
                note += "; energy of the unrelaxed MP structure used"
                converged, steps, relaxed = False, 0, False
        assert energy is not None
        docs.append(
            ElementalRefDoc(
                ref_id=reference_id(spec.name, spec.version, element),
                potential=spec.name,
                potential_version=spec.version,
                element=element,
                energy_per_atom=energy,
                mp_energy_per_atom=references[element].mp_energy_per_atom,
                mp_id=references[element].mp_id,
                structure=structure,
                relaxed=relaxed,
                converged=converged,
                steps=steps,
                note=note,
                build=build,
            )
        )
    return docs
