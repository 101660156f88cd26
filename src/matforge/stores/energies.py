"""The caches behind formation energies: elemental references and the hull.

- ``elemental_refs``: each element's reference energy per atom, relaxed once
  per potential version (see :mod:`matforge.potentials.references`);
- the stored hydrides' formation energies, which join the Materials
  Project's competing phases in every hull (:mod:`matforge.data.phases`);
- ``computed_phases``: known materials the offline snapshot has no energy
  for, priced with the ML potential; they join every hull too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from matforge.schemas.phase import PhaseDoc
from matforge.schemas.potential import ElementalRefDoc, reference_id
from matforge.stores.queries import scan_documents
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


def hydride_energies(store: Store) -> list[dict]:
    """Return the stored hydrides that have a formation energy (hull phases).

    Each is ``{material_id, formula, formation_energy_per_atom}``.
    """
    return [
        doc
        for doc in scan_documents(
            store, ["material_id", "formula", "formation_energy_per_atom"]
        )
        if isinstance(doc.get("formation_energy_per_atom"), int | float)
    ]


def computed_phase_docs(store: Store) -> list[PhaseDoc]:
    """Return the phases priced with the ML potential (``computed_phases``).

    Known materials (MP binaries of the references) that the offline
    snapshot has no energy for; see :func:`matforge.flows.relax.price_missing_phases`.
    """
    docs = []
    for doc in store.query({}):
        doc.pop("_id", None)
        docs.append(PhaseDoc.model_validate(doc))
    return docs
