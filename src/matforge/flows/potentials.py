"""The ML-potential stage: energies, formation energies and hulls with the store.

The science is in :mod:`matforge.potentials`; here elemental references are
read from (or computed once into) the ``elemental_refs`` collection and the
hull is built from the ``hydrides`` collection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobflow import Maker, job

from matforge.potentials.formation import (
    REFERENCES_FILE,
    HullPoint,
    e_above_hull,
    ml_formation_energy,
    needed_elements,
    read_elemental_references,
)
from matforge.potentials.registry import PotentialSpec, resolve_potential
from matforge.schemas.potential import ElementalRefDoc, reference_id
from matforge.stores.writes import upsert_documents

if TYPE_CHECKING:
    from maggma.core import Store
    from pymatgen.core import Structure

    from matforge.potentials.relax import RelaxResult
    from matforge.settings import MatforgeSettings, PotentialSettings
    from matforge.stores import StoreFactory


def potential_of(
    settings: MatforgeSettings,
    name: str | None = None,
    model_path: str | None = None,
) -> PotentialSpec:
    """Return the potential named (or the settings' one)."""
    params = settings.potential
    return resolve_potential(
        name or params.name,
        model_path if model_path is not None else params.model_path,
    )


def reference_energies(
    factory: StoreFactory,
    spec: PotentialSpec,
    elements: Sequence[str],
    params: PotentialSettings | None = None,
) -> dict[str, float]:
    """Return the potential's elemental reference energies, computing missing ones.

    References are relaxed once per potential version and element, then read
    from the ``elemental_refs`` collection.

    Parameters
    ----------
    factory
        The store factory (its settings locate the MP reference file).
    spec
        The potential.
    elements
        The elements wanted.
    params
        Relaxation settings (default: the factory's).

    Returns
    -------
    dict
        Element symbol to energy per atom, eV.
    """
    from matforge.potentials.references import compute_references

    params = params or factory.settings.potential
    store = factory.store("elemental_refs")
    ids = {reference_id(spec.name, spec.version, el): el for el in elements}
    found: dict[str, float] = {}
    for doc in store.query(
        {"potential": spec.name, "potential_version": spec.version},
        properties=["ref_id", "element", "energy_per_atom"],
    ):
        if doc["ref_id"] in ids:
            found[doc["element"]] = float(doc["energy_per_atom"])
    missing = [el for el in elements if el not in found]
    if missing:
        path = factory.settings.shared_data_dir() / REFERENCES_FILE
        docs = compute_references(
            read_elemental_references(path), missing, spec, params
        )
        upsert_documents(
            store,
            [d.model_dump() for d in docs],
            "ref_id",
            hash_field="energy_per_atom",
        )
        found |= {d.element: d.energy_per_atom for d in docs}
    return {el: found[el] for el in elements}


def stored_references(store: Store, spec: PotentialSpec) -> list[ElementalRefDoc]:
    """Return the cached elemental references of a potential version."""
    docs = store.query({"potential": spec.name, "potential_version": spec.version})
    return [
        ElementalRefDoc.model_validate({k: v for k, v in d.items() if k != "_id"})
        for d in docs
    ]


def hull_points(store: Store) -> list[HullPoint]:
    """Return the formation energies of the stored hydrides (hull entries)."""
    from pymatgen.core import Composition

    points = []
    for doc in store.query(
        {"formation_energy_per_atom": {"$ne": None}},
        properties=["material_id", "formula", "formation_energy_per_atom"],
    ):
        value = doc.get("formation_energy_per_atom")
        if isinstance(value, int | float):
            points.append(
                HullPoint(Composition(doc["formula"]), float(value), doc["material_id"])
            )
    return points


@dataclass
class EnergyRow:
    """The energies of one input structure."""

    input: str
    material_id: str | None
    formula: str
    result: RelaxResult
    formation_energy_per_atom: float | None = None
    e_above_hull: float | None = None
    correction_per_atom: float | None = None
    corrections: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return what ``matforge energy --json`` prints for the structure."""
        return {
            "input": self.input,
            "material_id": self.material_id,
            "formula": self.formula,
            "energy_per_atom": self.result.energy_per_atom,
            "formation_energy_per_atom": self.formation_energy_per_atom,
            "e_above_hull": self.e_above_hull,
            "potential": self.result.potential,
            "potential_version": self.result.potential_version,
            "relaxed": self.result.relaxed,
            "converged": self.result.converged,
            "steps": self.result.steps,
            "correction_per_atom": self.correction_per_atom,
            "error": self.error,
        }


def energies_of(
    results: Sequence[RelaxResult],
    references: dict[str, float],
    hull: Sequence[HullPoint],
    labels: Sequence[tuple[str, str | None]],
    apply_mp2020: bool = True,
) -> list[EnergyRow]:
    """Turn potential results into formation energies and hull distances (pure).

    Parameters
    ----------
    results
        The potential's results.
    references
        Elemental reference energies of the same potential.
    hull
        Known formation energies (the hull).
    labels
        (input, material_id) of every result.
    apply_mp2020
        Add the MP2020 corrections to the potential's energies.

    Returns
    -------
    list of EnergyRow
        One per result; failed ones keep their reason in ``error``.
    """
    rows = []
    for result, (label, material_id) in zip(results, labels, strict=True):
        row = EnergyRow(
            input=label,
            material_id=material_id,
            formula=result.structure.composition.reduced_formula,
            result=result,
            error=result.error,
        )
        if result.energy is not None and result.error is None:
            try:
                e_form, corrected = ml_formation_energy(
                    result.structure, result.energy, references, apply_mp2020
                )
            except KeyError as exc:
                row.error = str(exc.args[0])
            else:
                natoms = len(result.structure)
                row.formation_energy_per_atom = e_form
                row.correction_per_atom = corrected.correction / natoms
                row.corrections = corrected.corrections
                if not corrected.compatible:
                    row.error = "MP2020 scheme refused the entry; uncorrected"
                row.e_above_hull = e_above_hull(
                    result.structure.composition, e_form, hull, exclude_id=material_id
                )
        rows.append(row)
    return rows


def compute_energies(
    factory: StoreFactory,
    structures: Sequence[Structure],
    labels: Sequence[tuple[str, str | None]],
    spec: PotentialSpec,
    *,
    relax: bool = True,
    params: PotentialSettings | None = None,
    progress: Callable[[int], None] | None = None,
    on_rows: Callable[[list[EnergyRow]], None] | None = None,
    chunk: int = 64,
) -> list[EnergyRow]:
    """Relax or evaluate structures and give their MP-compatible energies.

    Parameters
    ----------
    factory
        The store factory (elemental references cache, hydrides for the hull).
    structures
        The structures.
    labels
        (input, material_id) of each structure.
    spec
        The potential.
    relax
        Relax first or evaluate as given.
    params
        Potential settings (default: the factory's).
    progress
        Called with 1 for every structure done.
    on_rows
        Called with the rows of finished structures, ``chunk`` at a time and
        the rest at the end, while the others are still relaxing (a caller
        that writes them keeps them if it is killed).
    chunk
        Rows handed to ``on_rows`` at a time.

    Returns
    -------
    list of EnergyRow
        One per structure, in order.
    """
    from matforge.potentials.relax import run_potential

    params = params or factory.settings.potential
    references = reference_energies(factory, spec, needed_elements(structures), params)
    hull = hull_points(factory.store("hydrides"))
    rows: dict[int, EnergyRow] = {}
    finished: list[RelaxResult] = []

    def hand_over() -> None:
        done = energies_of(
            finished,
            references,
            hull,
            [labels[r.index] for r in finished],
            spec.apply_mp2020,
        )
        rows.update((r.index, row) for r, row in zip(finished, done, strict=True))
        finished.clear()
        if on_rows is not None:
            on_rows(done)

    def on_result(result: RelaxResult) -> None:
        finished.append(result)
        if progress is not None:
            progress(1)
        if on_rows is not None and len(finished) >= chunk:
            hand_over()

    run_potential(structures, spec, params, relax=relax, on_result=on_result)
    if finished:
        hand_over()
    return [rows[i] for i in range(len(structures))]


@dataclass
class EnergyMaker(Maker):
    """Relax or evaluate structures with an ML potential; MP-compatible energies.

    Parameters
    ----------
    name
        Job name.
    potential
        Potential name (the settings' one when None).
    relax
        Relax first or evaluate as given.
    """

    name: str = "ml energy"
    potential: str | None = None
    relax: bool = True

    @job
    def make(self, structures: list[Structure]) -> list[dict[str, Any]]:
        """Return the energies of the structures (rows of ``matforge energy``)."""
        from matforge.settings import load_settings
        from matforge.stores import StoreFactory

        settings = load_settings()
        spec = potential_of(settings, self.potential)
        labels = [(f"structure {i}", None) for i in range(len(structures))]
        with StoreFactory(settings) as factory:
            rows = compute_energies(factory, structures, labels, spec, relax=self.relax)
        return [row.as_dict() for row in rows]


@dataclass
class ExpandMaker(Maker):
    """Grow the hydrides collection by substitution (``matforge dataset expand``).

    Parameters
    ----------
    name
        Job name.
    target
        Hydrides wanted (the settings' ``expand.target`` when None).
    potential
        Potential name (``expand.potential``, else ``potential.name``, when None).
    """

    name: str = "expand hydrides"
    target: int | None = None
    potential: str | None = None

    @job
    def make(self) -> dict[str, Any]:
        """Run the expansion on the settings' database; return its summary."""
        from matforge.data.expand import expand_dataset
        from matforge.settings import load_settings
        from matforge.stores import StoreFactory

        settings = load_settings()
        spec = potential_of(settings, self.potential or settings.expand.potential)
        with StoreFactory(settings) as factory:
            summary = expand_dataset(factory, spec, target=self.target)
        return summary.as_dict()
