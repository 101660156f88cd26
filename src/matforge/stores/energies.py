"""The caches behind formation energies: elemental references and the hull.

- ``elemental_refs``: each element's reference energy per atom, relaxed once
  per potential version (see :mod:`matforge.potentials.references`);
- the hull: the formation energies of the stored hydrides, on the MP2020
  scale, as :class:`~matforge.core.formation.HullPoint` entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pymatgen.core import Composition

from matforge.core.formation import HullPoint
from matforge.schemas.potential import ElementalRefDoc, reference_id
from matforge.stores.writes import upsert_documents

if TYPE_CHECKING:
    from maggma.core import Store


def cached_reference_energies(
    store: Store, potential: str, version: str, elements: Sequence[str]
) -> dict[str, float]:
    """Return the cached reference energies (eV/atom) of those elements found."""
    ids = {reference_id(potential, version, el): el for el in elements}
    found: dict[str, float] = {}
    for doc in store.query(
        {"potential": potential, "potential_version": version},
        properties=["ref_id", "element", "energy_per_atom"],
    ):
        if doc["ref_id"] in ids:
            found[doc["element"]] = float(doc["energy_per_atom"])
    return found


def save_references(store: Store, docs: Iterable[ElementalRefDoc]) -> None:
    """Cache computed elemental references (replacing changed ones)."""
    upsert_documents(
        store,
        [d.model_dump() for d in docs],
        "ref_id",
        hash_field="energy_per_atom",
    )


def stored_references(
    store: Store, potential: str, version: str
) -> list[ElementalRefDoc]:
    """Return the cached elemental references of a potential version."""
    docs = store.query({"potential": potential, "potential_version": version})
    return [
        ElementalRefDoc.model_validate({k: v for k, v in d.items() if k != "_id"})
        for d in docs
    ]


def hull_points(store: Store) -> list[HullPoint]:
    """Return the formation energies of the stored hydrides (hull entries)."""
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
