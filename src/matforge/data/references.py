"""Known materials for the novelty checks: the ``references`` collection.

The offline file (``settings.candidates.references_file``, 3,953 Materials
Project binaries) is loaded on first use by :func:`ensure_references`; loading
it again changes nothing. Only light documents are kept (:class:`ReferenceDoc`).
"""

from __future__ import annotations

import gzip
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from matforge.errors import DataNotFoundError
from matforge.schemas.reference import ReferenceDoc
from matforge.stores.queries import has_document, scan_documents
from matforge.stores.writes import UpsertResult, upsert_documents

if TYPE_CHECKING:
    from maggma.core import Store

    from matforge.settings import MatforgeSettings
    from matforge.stores.factory import StoreFactory

logger = logging.getLogger(__name__)

OFFLINE_SOURCE = "offline:{name}"
MP_SOURCE = "mp-api"


def references_path(settings: MatforgeSettings) -> Path:
    """Return the references file of the settings (absolute or in the shared data)."""
    path = Path(settings.candidates.references_file).expanduser()
    if not path.is_absolute():
        path = settings.shared_data_dir() / path
    if not path.is_file():
        raise DataNotFoundError(f"references file {path} not found")
    return path


def read_references(path: Path) -> Iterator[ReferenceDoc]:
    """Yield the known materials of a JSON(.gz) list of ``{material_id, structure}``.

    Records without an id or with an unreadable structure are skipped with a
    warning: a reference set is not curated here.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        records = json.load(handle)
    source = OFFLINE_SOURCE.format(name=path.name)
    for index, record in enumerate(records):
        try:
            structure = Structure.from_dict(record["structure"])
            material_id = str(record["material_id"])
        except Exception as exc:  # one broken record must not stop the load
            name = record.get("material_id") if isinstance(record, dict) else None
            logger.warning(
                "skipped reference %s[%d] (%s): unreadable (%s: %s)",
                path.name,
                index,
                name,
                type(exc).__name__,
                exc,
            )
            continue
        yield ReferenceDoc.from_structure(material_id, structure, source)


def load_references(factory: StoreFactory, path: Path | None = None) -> UpsertResult:
    """Upsert the known materials of a file into ``references`` (idempotent).

    Parameters
    ----------
    factory
        The store factory.
    path
        The file; by default the one named by ``settings.candidates``.

    Returns
    -------
    UpsertResult
        The ids inserted, updated and unchanged.
    """
    path = path or references_path(factory.settings)
    docs = [doc.model_dump() for doc in read_references(path)]
    return upsert_documents(factory.store("references"), docs, "material_id")


def ensure_references(factory: StoreFactory) -> int:
    """Load the offline references once, on first use; return how many were loaded.

    The file is loaded when no document of it is in ``references`` yet
    (references added from elsewhere, e.g. the Materials Project, do not count);
    otherwise nothing is read and 0 is returned.
    """
    store = factory.store("references")
    try:
        path = references_path(factory.settings)
    except DataNotFoundError:
        if not has_document(store):
            raise
        logger.warning("references file not found; using the stored references")
        return 0
    source = OFFLINE_SOURCE.format(name=path.name)
    if has_document(store, {"source": source}):
        return 0
    result = load_references(factory, path)
    logger.info("loaded %d references from %s", len(result.inserted), path.name)
    return len(result.inserted) + len(result.updated)


def mp_references(
    api_key: str, chemical_systems: Iterable[str], page_size: int = 1000
) -> list[ReferenceDoc]:
    """Download the Materials Project materials of some chemical systems.

    Parameters
    ----------
    api_key
        The Materials Project API key.
    chemical_systems
        Chemical systems such as ``"H-Ti"`` (elements in any order): the
        materials made of exactly these elements are returned.
    page_size
        Materials per request.

    Returns
    -------
    list of ReferenceDoc
        One light document per material (unreadable structures skipped).

    Raises
    ------
    matforge.data.mp.MaterialsProjectError
        No, a malformed or a rejected key; the API unreachable or in error.
    """
    from matforge.data.mp import KEY_HINT, MaterialsProjectAuthError, _download

    key = (api_key or "").strip()
    if not key:
        raise MaterialsProjectAuthError(f"no Materials Project API key: {KEY_HINT}")
    systems = sorted({"-".join(sorted(c.split("-"))) for c in chemical_systems})
    if not systems:
        return []
    docs = []
    for raw in _download(
        key, page_size, None, fields=("material_id", "structure"), chemsys=systems
    ):
        try:
            structure = Structure.from_dict(raw["structure"])
        except Exception as exc:  # from_dict raises many types
            logger.warning(
                "skipped %s: unreadable structure (%s)", raw.get("material_id"), exc
            )
            continue
        docs.append(
            ReferenceDoc.from_structure(str(raw["material_id"]), structure, MP_SOURCE)
        )
    return docs


def load_mp_references(
    factory: StoreFactory, chemical_systems: Iterable[str]
) -> UpsertResult:
    """Upsert the Materials Project materials of some chemical systems (needs a key).

    Raises
    ------
    matforge.data.mp.MaterialsProjectError
        As :func:`mp_references`.
    """
    key = factory.settings.mp_api_key
    docs = mp_references(
        key.get_secret_value() if key is not None else "",
        chemical_systems,
        factory.settings.ingest.mp_page_size,
    )
    return upsert_documents(
        factory.store("references"), [d.model_dump() for d in docs], "material_id"
    )


def known_documents(
    stores: Iterable[Store], formulas: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """Return the known materials of some reduced formulas, by reduced formula.

    Parameters
    ----------
    stores
        Stores of known materials, each keyed by its material id (``hydrides``,
        ``references``).
    formulas
        Reduced formulas.

    Returns
    -------
    dict
        ``{reduced_formula: [{"material_id", "structure"}, ...]}`` (structures as
        dicts), sorted by id; a formula without known materials is absent.
    """
    wanted = set(formulas)
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for store in stores:
        fields = (store.key, "reduced_formula", "structure")
        for doc in scan_documents(store, fields, "reduced_formula", wanted):
            found[doc["reduced_formula"]].append(
                {"material_id": str(doc[store.key]), "structure": doc["structure"]}
            )
    for docs in found.values():
        docs.sort(key=lambda d: d["material_id"])
    return dict(found)


def known_for(factory: StoreFactory, formulas: Iterable[str]) -> list[Any]:
    """Return the known materials of some reduced formulas, for novelty checks.

    The stored hydrides and references (crystals: they can match a structure)
    and the Materials Project's offline compositions (known by ratio only:
    they set "same ratio" and the reference id, never a structure match).
    """
    from matforge.core.novelty import known_compositions, known_materials
    from matforge.data.phases import offline_phases

    formulas = set(formulas)
    found = known_documents(
        [factory.store("hydrides"), factory.store("references")], formulas
    )
    settings = factory.settings
    compositions = offline_phases(
        settings.shared_data_dir(),
        include_mp20=settings.candidates.phases_include_mp20,
    )
    return known_materials(
        [
            (d["material_id"], Structure.from_dict(d["structure"]))
            for docs in found.values()
            for d in docs
        ]
    ) + known_compositions(
        (mid, rf) for rf in formulas for mid in compositions.ids_with_formula(rf)
    )


def novelty_of_structures(
    factory: StoreFactory, structures: dict[str, Structure]
) -> dict[str, Any]:
    """Return each crystal's :class:`~matforge.core.novelty.Novelty`, by id.

    Matched with the candidates settings' tolerances against :func:`known_for`.
    """
    from matforge.core.novelty import assess_novelty, make_matcher

    params = factory.settings.candidates
    matcher = make_matcher(params.ltol, params.stol, params.angle_tol)
    known = known_for(
        factory, {s.composition.reduced_formula for s in structures.values()}
    )
    return {
        key: assess_novelty(structure, structure.composition, known, matcher)
        for key, structure in structures.items()
    }


def novelty_of_records(
    factory: StoreFactory, records: Iterable[Any], from_mp: bool = False
) -> list[dict[str, Any]]:
    """Tell for each read record whether its crystal is known (``matforge novelty``).

    The known materials are those of :func:`known_for` (the offline references
    loaded on first use; with ``from_mp``, the Materials Project materials of
    the records' chemical systems too).

    Parameters
    ----------
    factory
        The store factory.
    records
        Records as :func:`matforge.data.files.read_paths` yields them.
    from_mp
        Also load the Materials Project materials of these chemical systems.

    Returns
    -------
    list of dict
        One answer per record, in order: ``input``, ``formula``,
        ``reduced_formula``, ``same_formula``, ``same_ratio``, ``matched_id``,
        ``reference_id`` and ``known_ids_same_ratio``, or ``input`` and
        ``error`` for a record without a structure.
    """
    records = list(records)
    readable = [r for r in records if r.structure is not None]
    ensure_references(factory)
    if from_mp:
        systems = {
            "-".join(sorted(el.symbol for el in r.structure.composition.elements))
            for r in readable
        }
        load_mp_references(factory, systems)
    results = novelty_of_structures(
        factory, {str(i): r.structure for i, r in enumerate(records) if r.structure}
    )
    answers: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        if record.structure is None:
            answers.append({"input": record.input, "error": record.error})
            continue
        result = results[str(index)]
        answers.append(
            {
                "input": record.input,
                "formula": result.formula,
                "reduced_formula": result.reduced_formula,
                "same_formula": result.same_formula,
                "same_ratio": result.same_ratio,
                "matched_id": result.matched_id,
                "reference_id": result.reference_id,
                "known_ids_same_ratio": list(result.same_ratio_ids),
            }
        )
    return answers
