"""The optimade_structures collection: candidates and hydrides as OPTIMADE entries.

One document per served crystal, in the form the OPTIMADE server's backend
reads: the standard structure attributes (``elements``, ``lattice_vectors``,
``cartesian_site_positions``, ...) under their OPTIMADE names, and matforge's
own properties under bare names (``storage_score``) that the server publishes
with the provider prefix (``_matforge_storage_score``), see
:data:`PROVIDER_FIELDS`. A few bookkeeping fields (hashes, build metadata,
the source's time stamp) are stored but never served.

Both kinds of crystal are ``structures`` entries, told apart by ``kind``
(``_matforge_kind``): OPTIMADE clients (pymatgen's ``OptimadeRester``, ASE,
the optimade-python-tools client) only know the standard entry types, so a
custom ``hydrides`` entry type would be invisible to them, and one filter
(``_matforge_kind="candidate"``) selects either kind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pymatgen.core import Structure

from matforge.schemas.candidate import stamp
from matforge.schemas.common import BuildMeta, content_hash, utcnow

PROVIDER_PREFIX = "matforge"
"""The provider prefix: provider fields are served as ``_matforge_<name>``."""

Kind = Literal["candidate", "hydride"]

# name -> (OPTIMADE data type, unit); the description is the field's own
PROVIDER_FIELDS: dict[str, tuple[str, str | None]] = {
    "kind": ("string", None),
    "source": ("string", None),
    "storage_score": ("float", None),
    "h_weight_fraction": ("float", None),
    "formation_energy_per_atom": ("float", "eV/atom"),
    "formation_energy_dft_per_atom": ("float", "eV/atom"),
    "e_above_hull": ("float", "eV/atom"),
    "decomposition": ("dictionary", None),
    "is_stable": ("boolean", None),
    "is_novel": ("boolean", None),
    "known_id": ("string", None),
    "same_formula": ("boolean", None),
    "same_ratio": ("boolean", None),
    "run_id": ("string", None),
    "potential": ("string", None),
    "spacegroup_symbol": ("string", None),
    "spacegroup_number": ("integer", None),
    "licence": ("string", None),
}
"""matforge's properties of an entry: OPTIMADE type and unit of each."""

UNSERVED_FIELDS = frozenset(
    {
        "source_collection",
        "source_last_updated",
        "conversion",
        "content_hash",
        "build",
        "last_updated",
    }
)
"""Bookkeeping fields of a stored entry that the server never publishes."""

CONVERSION_VERSION = 1
"""Version of the conversion below; raising it re-converts every entry."""

# Fields left out of the content hash: they change without the content changing.
_UNHASHED = {"immutable_id", "content_hash", "build", "last_updated"}


def _number(value: Any) -> float | None:
    """Return a finite float, or None (OPTIMADE has no NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _decomposition(value: Any) -> dict[str, float] | None:
    """Return a decomposition as {reduced formula: fraction}, or None.

    ``value`` is a list of hull products (``formula``, ``fraction``) or a mapping.
    """
    if isinstance(value, list) and value:
        value = {
            str(p.get("formula")): p.get("fraction")
            for p in value
            if isinstance(p, Mapping)
        }
    if not isinstance(value, Mapping) or not value:
        return None
    out = {str(k): _number(v) for k, v in value.items()}
    return None if any(v is None for v in out.values()) else out  # type: ignore[return-value]


def cell_formula(structure: Structure) -> str:
    """Return the formula of the cell, cations first, no ones: Mg2H4, Li2HN."""
    parts = []
    for token in structure.composition.formula.split():
        symbol = token.rstrip("0123456789.")
        count = token[len(symbol) :]
        parts.append(symbol if count == "1" else token)
    return "".join(parts)


def structure_attributes(structure: Structure) -> dict[str, Any]:
    """Return the standard OPTIMADE attributes of an ordered periodic crystal.

    optimade-python-tools' pymatgen adapter does the conversion; the species
    are then put in a fixed order (the adapter takes them from a set), so that
    the same crystal always gives the same attributes, and the descriptive
    formula is the cell's (:func:`cell_formula`).

    Parameters
    ----------
    structure
        An ordered pymatgen ``Structure``.

    Returns
    -------
    dict
        ``elements``, ``nelements``, ``elements_ratios``, the three chemical
        formulas, ``dimension_types``, ``nperiodic_dimensions``,
        ``lattice_vectors``, ``cartesian_site_positions``, ``species``,
        ``species_at_sites``, ``nsites`` and ``structure_features``.

    Raises
    ------
    ValueError
        If the structure is disordered (partial occupancies) or empty.
    """
    from optimade.adapters.structures.pymatgen import from_pymatgen

    if len(structure) == 0:
        raise ValueError("the structure has no sites")
    if not structure.is_ordered:
        raise ValueError("the structure is disordered (partial occupancies)")
    attributes = from_pymatgen(structure).model_dump(exclude_unset=False)
    keep = {
        "elements",
        "nelements",
        "elements_ratios",
        "chemical_formula_descriptive",
        "chemical_formula_reduced",
        "chemical_formula_anonymous",
        "dimension_types",
        "nperiodic_dimensions",
        "lattice_vectors",
        "cartesian_site_positions",
        "species",
        "species_at_sites",
        "nsites",
        "structure_features",
    }
    out = {k: v for k, v in attributes.items() if k in keep}
    out["species"] = sorted(
        (
            {
                "name": s["name"],
                "chemical_symbols": list(s["chemical_symbols"]),
                "concentration": [float(c) for c in s["concentration"]],
            }
            for s in out["species"]
        ),
        key=lambda s: s["name"],
    )
    out["chemical_formula_descriptive"] = cell_formula(structure)
    out["structure_features"] = []
    return out


class OptimadeStructureDoc(BaseModel):
    """One crystal as an OPTIMADE structures entry (the server backend's form)."""

    id: str = Field(
        description="The entry's id: the candidate_id of a candidate, the "
        "material_id of a hydride (the ids matforge's tables show)."
    )
    type: Literal["structures"] = Field(
        default="structures", description="The OPTIMADE entry type."
    )
    immutable_id: str = Field(
        description="Id of this version of the entry: the id and a hash of the "
        "content; it changes when the entry does."
    )
    last_modified: datetime = Field(
        description="When the source document last changed (UTC, whole seconds "
        "as RFC 3339 filters compare them)."
    )
    elements: list[str] = Field(description="Element symbols, sorted.")
    nelements: int = Field(description="Number of distinct elements.")
    elements_ratios: list[float] = Field(
        description="Atomic fraction of each element, in the order of `elements`."
    )
    chemical_formula_descriptive: str = Field(
        description="The cell formula, e.g. Ti2H4."
    )
    chemical_formula_reduced: str = Field(
        description="Reduced formula, elements alphabetical (OPTIMADE), e.g. H2Ti."
    )
    chemical_formula_anonymous: str = Field(
        description="Anonymous reduced formula, e.g. A2B."
    )
    dimension_types: list[int] = Field(
        description="Periodicity along each lattice vector (1 periodic, 0 not)."
    )
    nperiodic_dimensions: int = Field(description="Number of periodic dimensions.")
    lattice_vectors: list[list[float]] = Field(
        description="The three lattice vectors, angstrom."
    )
    cartesian_site_positions: list[list[float]] = Field(
        description="Cartesian position of each site, angstrom."
    )
    nsites: int = Field(description="Number of sites in the cell.")
    species: list[dict[str, Any]] = Field(
        description="The species (name, chemical_symbols, concentration), by name."
    )
    species_at_sites: list[str] = Field(description="Species name of each site.")
    structure_features: list[str] = Field(
        description="OPTIMADE structure features; empty: ordered, no assemblies."
    )
    # -- provider fields, served as _matforge_<name> ------------------------
    kind: Kind = Field(
        description="candidate (a generated, relaxed and judged crystal of a "
        "campaign) or hydride (a known or computed hydride of the dataset)."
    )
    source: str = Field(
        description="Where the crystal comes from: generated (a candidate), or a "
        "hydride's source (mp, offline, files, computed)."
    )
    storage_score: float | None = Field(
        default=None,
        description="Hydrogen Storage Score (0-1) from the formation energy.",
    )
    h_weight_fraction: float | None = Field(
        default=None, description="Hydrogen mass fraction (0-1)."
    )
    formation_energy_per_atom: float | None = Field(
        default=None,
        description="Formation energy: predicted by the ML potential for a "
        "candidate, the source's value for a hydride.",
    )
    formation_energy_dft_per_atom: float | None = Field(
        default=None,
        description="DFT formation energy of a validated candidate.",
    )
    e_above_hull: float | None = Field(
        default=None, description="Energy above the convex hull."
    )
    decomposition: dict[str, float] | None = Field(
        default=None,
        description="Competing phases the crystal decomposes into (reduced "
        "formula: fraction), when the source records them.",
    )
    is_stable: bool | None = Field(
        default=None,
        description="A candidate within the stable tolerance of the hull.",
    )
    is_novel: bool | None = Field(
        default=None,
        description="A candidate that no known material matches (structure match).",
    )
    known_id: str | None = Field(
        default=None,
        description="The known material that is the same crystal (a candidate's "
        "match, a hydride's own material id).",
    )
    same_formula: bool | None = Field(
        default=None,
        description="A known material has the candidate's cell formula.",
    )
    same_ratio: bool | None = Field(
        default=None,
        description="A known material has the candidate's reduced formula.",
    )
    run_id: str | None = Field(
        default=None, description="The campaign that made the candidate."
    )
    potential: str | None = Field(
        default=None, description="The ML potential that relaxed the crystal."
    )
    spacegroup_symbol: str | None = Field(
        default=None, description="Hermann-Mauguin space-group symbol."
    )
    spacegroup_number: int | None = Field(
        default=None, description="International space-group number (1-230)."
    )
    licence: str | None = Field(
        default=None, description="Licence of a hydride's source data."
    )
    # -- bookkeeping, never served ------------------------------------------
    source_collection: str = Field(
        description="The collection of the source document (candidates, hydrides)."
    )
    source_last_updated: datetime = Field(
        description="last_updated of the source document this entry was made "
        "from; a newer one is converted again."
    )
    conversion: int = Field(
        default=CONVERSION_VERSION,
        description="Version of the conversion that made the entry; another one "
        "converts it again.",
    )
    content_hash: str = Field(
        default="",
        description="Hash of the served content; an unchanged rebuild is not "
        "rewritten.",
    )
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the content last changed (UTC)."
    )

    @field_validator("source_last_updated")
    @classmethod
    def _as_stored(cls, value: datetime) -> datetime:
        return stamp(value)

    @field_validator("last_modified")
    @classmethod
    def _whole_seconds(cls, value: datetime) -> datetime:
        return stamp(value).replace(microsecond=0)

    # -- constructors (pure) ------------------------------------------------
    @classmethod
    def from_candidate(
        cls, doc: Mapping[str, Any], build: BuildMeta | None = None
    ) -> OptimadeStructureDoc:
        """Return the entry of a candidates document (a stored dict).

        Parameters
        ----------
        doc
            A candidates document with a structure.
        build
            Build metadata; a fresh one when None.

        Raises
        ------
        ValueError
            If the document has no structure or a disordered one.
        """
        raw = doc.get("structure")
        if not raw:
            raise ValueError(f"candidate {doc.get('candidate_id')} has no structure")
        attributes = structure_attributes(Structure.from_dict(raw))
        when = doc["last_updated"]
        return cls(
            id=str(doc["candidate_id"]),
            immutable_id="",
            last_modified=when,
            **attributes,
            kind="candidate",
            source="generated",
            storage_score=_number(doc.get("storage_score")),
            h_weight_fraction=_number(doc.get("h_weight_fraction")),
            formation_energy_per_atom=_number(doc.get("formation_energy_per_atom")),
            formation_energy_dft_per_atom=_number(
                doc.get("formation_energy_dft_per_atom")
            ),
            e_above_hull=_number(doc.get("e_above_hull")),
            decomposition=_decomposition(doc.get("decomposition")),
            is_stable=doc.get("is_stable"),
            is_novel=doc.get("is_novel"),
            known_id=doc.get("matched_id"),
            same_formula=doc.get("same_formula"),
            same_ratio=doc.get("same_ratio"),
            run_id=doc.get("run_id"),
            potential=doc.get("potential"),
            spacegroup_symbol=doc.get("spacegroup_symbol"),
            spacegroup_number=doc.get("spacegroup_number"),
            source_collection="candidates",
            source_last_updated=when,
            conversion=CONVERSION_VERSION,
            build=build or BuildMeta(),
        ).with_hash()

    @classmethod
    def from_hydride(
        cls, doc: Mapping[str, Any], build: BuildMeta | None = None
    ) -> OptimadeStructureDoc:
        """Return the entry of a hydrides document (a stored dict).

        Parameters
        ----------
        doc
            A hydrides document.
        build
            Build metadata; a fresh one when None.

        Raises
        ------
        ValueError
            If the structure is disordered.
        """
        attributes = structure_attributes(Structure.from_dict(doc["structure"]))
        computed = doc.get("computed") or {}
        when = doc["last_updated"]
        return cls(
            id=str(doc["material_id"]),
            immutable_id="",
            last_modified=when,
            **attributes,
            kind="hydride",
            source=str(doc.get("source") or "unknown"),
            storage_score=_number(doc.get("storage_score")),
            h_weight_fraction=_number(doc.get("h_weight_fraction")),
            formation_energy_per_atom=_number(doc.get("formation_energy_per_atom")),
            e_above_hull=_number(doc.get("e_above_hull")),
            decomposition=_decomposition(doc.get("decomposition")),
            known_id=str(doc["material_id"]),
            potential=computed.get("potential"),
            spacegroup_symbol=doc.get("spacegroup_symbol"),
            spacegroup_number=doc.get("spacegroup_number"),
            licence=doc.get("licence"),
            source_collection="hydrides",
            source_last_updated=when,
            conversion=CONVERSION_VERSION,
            build=build or BuildMeta(),
        ).with_hash()

    def with_hash(self) -> OptimadeStructureDoc:
        """Return this entry with its content hash and immutable id filled in."""
        payload = self.model_dump(mode="json", exclude=_UNHASHED)
        digest = content_hash(payload)
        return self.model_copy(
            update={"content_hash": digest, "immutable_id": f"{self.id}@{digest[:12]}"}
        )


# -- the entries as the server publishes them ----------------------------------
PROVIDER = {
    "prefix": PROVIDER_PREFIX,
    "name": "matforge",
    "description": "Metal hydrides for hydrogen storage: generated, relaxed and "
    "ranked candidates, and the known hydrides they were learned from.",
    "homepage": None,
}
"""The provider the server declares (``/info``, ``/links``)."""


def provider_fields() -> list[dict[str, Any]]:
    """Return the provider fields of structures, as the server declares them.

    Each is served as ``_matforge_<name>`` with its OPTIMADE type, its unit
    and the description of the document field it comes from.
    """
    fields = OptimadeStructureDoc.model_fields
    out = []
    for name, (kind, unit) in PROVIDER_FIELDS.items():
        entry: dict[str, Any] = {
            "name": name,
            "type": kind,
            "description": fields[name].description or name,
        }
        if unit is not None:
            entry["unit"] = unit
        out.append(entry)
    return out


@cache
def arguments_config_class() -> type:
    """Return optimade's ``ServerConfig`` class read from its arguments only.

    The library's class also reads ``OPTIMADE_*`` environment variables and
    ``~/.optimade.json``; matforge configures it from its own settings.
    """
    from optimade.server.config import ServerConfig
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

    class MatforgeServerConfig(ServerConfig):
        """optimade's server configuration from its arguments only."""

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            **_: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    return MatforgeServerConfig


@cache
def _mapper() -> Any:
    from optimade.server.mappers import StructureMapper

    config = arguments_config_class()(
        provider=PROVIDER, provider_fields={"structures": provider_fields()}
    )
    return StructureMapper(config)


def served_entry(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Return a stored entry as the server publishes it, checked against OPTIMADE.

    The entry goes through the server's mapper (provider fields prefixed,
    attributes gathered) and must validate as optimade-python-tools'
    ``StructureResource``, the model its responses are checked with. The
    OPTIMADE builder calls it on every entry it writes, so that the server
    need not check each response again (``serve.validate_responses``).

    Raises
    ------
    ValueError
        If the entry is not a valid OPTIMADE structure (the first failing
        field and why).
    """
    from optimade.models import StructureResource
    from pydantic import ValidationError

    shown = {k: v for k, v in doc.items() if k not in UNSERVED_FIELDS}
    mapped = _mapper().map_back(shown)
    try:
        StructureResource(**mapped)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "entry"
        raise ValueError(
            f"not a valid OPTIMADE structure: {where}: {first.get('msg')} "
            f"({exc.error_count()} error(s))"
        ) from None
    return mapped
