"""The relax stage: structures through the ML potential, with the store.

The science (an ML potential through atomate2's force-field makers; the
formation energy and energy above the hull of each result) lives in
:mod:`matforge.potentials`. Here elemental references are read from (or
computed once into) ``elemental_refs``, the hull is built from the Materials
Project's competing phases and the stored ``hydrides`` (:func:`campaign_hull`)
(:func:`compute_energies`, which the dataset expansion, the calibration and
``matforge energy`` share), and the campaign's stage relaxes its generated
crystals into one relaxed document each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from pymatgen.core import Composition, Structure

from matforge.core.formation import needed_elements
from matforge.core.hull import HullCalculator, HullResult, chemsys_of, subsystems
from matforge.data.offline import REFERENCES_FILE, read_elemental_references
from matforge.data.phases import (
    MPPhaseCache,
    fetch_mp_phases,
    offline_phases,
    reference_hull,
)
from matforge.data.references import ensure_references
from matforge.errors import MatforgeError
from matforge.flows.stage import StageMaker, execute_stage, stage_job
from matforge.potentials.energies import EnergyRow, energies_of
from matforge.potentials.references import compute_references
from matforge.potentials.registry import PotentialSpec, resolve_potential
from matforge.potentials.relax import RelaxResult, run_potential
from matforge.schemas import BuildMeta
from matforge.schemas.phase import HullProduct, PhaseDoc
from matforge.schemas.relaxed import RelaxedDoc, relaxed_id_for
from matforge.stores.energies import (
    cached_reference_energies,
    computed_phase_docs,
    hydride_energies,
    save_references,
)
from matforge.stores.lock import store_writer
from matforge.stores.writes import stored_values, upsert_documents

if TYPE_CHECKING:
    from matforge.settings import MatforgeSettings, PotentialSettings
    from matforge.stores import StoreFactory


logger = logging.getLogger("matforge.flow")

RELAX_CHUNK = 64
"""Relaxed crystals written together by the relax stage."""


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
    params = params or factory.settings.potential
    store = factory.store("elemental_refs")
    found = cached_reference_energies(store, spec.name, spec.version, elements)
    missing = [el for el in elements if el not in found]
    if missing:
        path = factory.settings.shared_data_dir() / REFERENCES_FILE
        docs = compute_references(
            read_elemental_references(path), missing, spec, params
        )
        save_references(store, docs)
        found |= {d.element: d.energy_per_atom for d in docs}
    return {el: found[el] for el in elements}


def campaign_hull(
    factory: StoreFactory, compositions: Iterable[Composition]
) -> HullCalculator:
    """Return the hull of the chemical systems of some compositions.

    The competing phases are the Materials Project's offline compositions
    (moved to the MP2020 scale; the MP-20 sample's MP2020 values where it has
    them), the stored hydrides with a formation energy and, when an API key is
    set and ``candidates.phases_from_mp``, the Materials Project's own answer
    for each system (cached under ``<home>/cache/mp-phases``). Stable means
    within ``candidates.stable_e_above_hull``, metastable within
    ``candidates.max_e_above_hull``.

    Parameters
    ----------
    factory
        The store factory (settings, hydrides).
    compositions
        The compositions to judge (their systems and sub-systems are loaded).
    """
    settings = factory.settings
    params = settings.candidates
    mp = None
    if settings.mp_api_key is not None and params.phases_from_mp:
        key = settings.mp_api_key.get_secret_value()
        mp = MPPhaseCache(
            partial(fetch_mp_phases, key), settings.home_dir / "cache" / "mp-phases"
        )
    return reference_hull(
        {chemsys_of(c) for c in compositions},
        stable_tolerance=params.stable_e_above_hull,
        metastable_threshold=params.max_e_above_hull,
        offline=offline_phases(
            settings.shared_data_dir(), include_mp20=params.phases_include_mp20
        ),
        hydrides=hydride_energies(factory.store("hydrides")),
        mp=mp,
        computed=computed_phase_docs(factory.store("computed_phases")),
    )


def unpriced_references(
    factory: StoreFactory, compositions: Iterable[Composition]
) -> list[dict[str, Any]]:
    """Return the known materials of some chemical systems that no hull phase prices.

    The references (MP binaries with structures) whose elements lie within the
    compositions' systems and whose reduced formula has no usable phase among
    the offline phases, the phases priced before and the stored hydrides. The
    offline snapshot lacks about a fifth of MP's binaries (SrSe, SnO2, CeO2):
    without them, a crystal of such a system is judged against an incomplete
    hull and can look far below it.

    Returns
    -------
    list of dict
        ``material_id``, ``reduced_formula`` and ``structure`` of each, by id.
    """
    settings = factory.settings
    systems = {chemsys_of(c) for c in compositions}
    wanted = {s for system in systems for s in subsystems(system)}
    if not wanted:
        return []
    ensure_references(factory)
    offline = offline_phases(
        settings.shared_data_dir(), include_mp20=settings.candidates.phases_include_mp20
    )
    priced = {
        doc.reduced_formula
        for system in systems
        for doc in offline.docs_in(system)
        if doc.usable
    }
    priced |= {
        d.reduced_formula
        for d in computed_phase_docs(factory.store("computed_phases"))
        if d.usable
    }
    priced |= {
        Composition(d["formula"]).reduced_formula
        for d in hydride_energies(factory.store("hydrides"))
        if d.get("formula")
    }
    store = factory.store("references")
    chosen = []
    for doc in store.query({}, properties=["material_id", "reduced_formula"]):
        formula = doc.get("reduced_formula")
        if not formula or formula in priced:
            continue
        if chemsys_of(Composition(formula)) in wanted:
            chosen.append(doc["material_id"])
    if not chosen:
        return []
    docs = list(
        store.query(
            {"material_id": {"$in": chosen}},
            properties=["material_id", "reduced_formula", "structure"],
        )
    )
    for doc in docs:
        doc.pop("_id", None)
    return sorted(docs, key=lambda d: d["material_id"])


def price_missing_phases(
    factory: StoreFactory,
    compositions: Iterable[Composition],
    spec: PotentialSpec,
    params: PotentialSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Price with the ML potential the known materials the hull of some systems lacks.

    Each of :func:`unpriced_references` is relaxed and given its formation
    energy by the recipe of the campaign's crystals (the same potential,
    elemental references and MP2020 corrections), so it sits on the scale of
    the crystals it is a competing phase of. The result is a ``computed_phases``
    document (source ``ml-potential``, the MP id kept) that every later hull
    includes. A material whose relaxation fails is named in the log and left
    out (tried again next time).

    Returns
    -------
    dict
        ``priced`` (ids and formulas stored) and ``failed`` (id to reason).
    """
    todo = unpriced_references(factory, compositions)
    summary: dict[str, Any] = {"priced": [], "failed": {}}
    if not todo:
        return summary
    params = params or factory.settings.potential
    structures = [Structure.from_dict(d["structure"]) for d in todo]
    logger.info(
        "pricing %d known materials the offline phases lack (%s) with %s",
        len(todo),
        ", ".join(sorted({d["reduced_formula"] for d in todo})),
        spec.name,
    )
    rows = compute_energies(
        factory,
        structures,
        [(d["material_id"], d["material_id"]) for d in todo],
        spec,
        relax=True,
        params=params,
        progress=progress,
    )
    build = BuildMeta(
        inputs=["references", REFERENCES_FILE],
        settings={
            "potential": params.model_dump(mode="json"),
            "potential_name": spec.name,
            "potential_version": spec.version,
        },
    )
    docs = []
    for doc, structure, row in zip(todo, structures, rows, strict=True):
        reason = row.error or row.result.error
        energy = row.formation_energy_per_atom
        if reason is not None or energy is None:
            summary["failed"][doc["material_id"]] = reason or "no formation energy"
            continue
        docs.append(
            PhaseDoc.from_mp2020(
                doc["material_id"],
                structure.composition,
                energy,
                "ml-potential",
                build,
            ).model_dump()
        )
        summary["priced"].append(
            {"material_id": doc["material_id"], "formula": doc["reduced_formula"]}
        )
    if docs:
        upsert_documents(factory.store("computed_phases"), docs, "phase_id")
    for material_id, reason in summary["failed"].items():
        logger.warning("could not price %s: %s", material_id, reason)
    return summary


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
    hull: HullCalculator | None = None,
) -> list[EnergyRow]:
    """Relax or evaluate structures and give their MP-compatible energies.

    Parameters
    ----------
    factory
        The store factory (elemental references cache, the hull's phases).
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
    hull
        The hull to measure against (:func:`campaign_hull` of the structures
        when None).

    Returns
    -------
    list of EnergyRow
        One per structure, in order.
    """
    params = params or factory.settings.potential
    references = reference_energies(factory, spec, needed_elements(structures), params)
    if hull is None:
        hull = campaign_hull(factory, (s.composition for s in structures))
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


def hull_products(hull: HullResult | None) -> list[HullProduct] | None:
    """Return a hull result's decomposition as documents (None without a hull)."""
    if hull is None:
        return None
    return [
        HullProduct(id=d.id, formula=d.formula, fraction=d.fraction)
        for d in hull.decomposition
    ]


def _relaxed_document(
    doc: dict[str, Any],
    structure: Structure,
    row: EnergyRow,
    relaxed_id: str,
    run_id: str,
    build: BuildMeta,
    settings: MatforgeSettings,
) -> RelaxedDoc:
    """Return the relaxed document of one generated crystal (or its failure)."""
    common = {
        "generated_id": doc["generated_id"],
        "initial_structure": structure,
        "potential": row.result.potential,
        "potential_version": row.result.potential_version,
        "steps": row.result.steps,
        "run_id": run_id,
        "relaxed_id": relaxed_id,
        "build": build,
    }
    failure = row.error or row.result.error
    if failure is not None or row.result.energy is None:
        return RelaxedDoc.from_failure(
            **common, reason=failure or "the potential gave no energy"
        )
    return RelaxedDoc.from_relaxation(
        **common,
        structure=row.result.structure,
        converged=row.result.converged,
        energy_per_atom=row.result.energy / len(row.result.structure),
        formation_energy_per_atom=row.formation_energy_per_atom,
        e_above_hull=row.e_above_hull,
        decomposition=hull_products(row.hull),
        hull_phases=row.hull.n_phases if row.hull else None,
        max_force=row.result.max_force,
        e_threshold=settings.score.e_threshold,
        sigma=settings.score.sigma,
    )


def relax_generated(
    factory: StoreFactory,
    run_id: str,
    settings: MatforgeSettings,
    generated_ids: list[str],
    potential: str | None = None,
    chunk: int = RELAX_CHUNK,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Relax a campaign's generated crystals into the relaxed collection.

    The crystals are relaxed with the ML potential (batched where the
    potential allows, in one in-flight batch), their MP-compatible formation
    energies and hull distances computed against references and a hull read
    once (:func:`compute_energies`), and a
    :class:`~matforge.schemas.relaxed.RelaxedDoc` is upserted on its
    deterministic id; a failure is a document too, never dropped. Crystals
    already relaxed with the same potential version are not relaxed again.

    Parameters
    ----------
    factory
        The store factory (generated in; relaxed out).
    run_id
        The campaign, recorded on every relaxed document.
    settings
        The matforge settings (potential, score).
    generated_ids
        The generated documents to relax.
    potential
        Name of the ML potential (None: ``settings.potential``).
    chunk
        Relaxed crystals written together; a stage killed mid-way loses at
        most the crystals in flight and fewer than ``chunk`` finished ones.
    progress
        Called with 1 for every crystal relaxed (a progress bar); every write
        is also logged on ``matforge.flow``.

    Returns
    -------
    dict
        Counts ``relaxed``, ``converged``, ``failed`` and ``reused``.
    """
    spec = potential_of(settings, potential)
    wanted = set(generated_ids)
    generated = [
        doc
        for doc in factory.store("generated").query({"run_id": run_id})
        if doc["generated_id"] in wanted
    ]
    if len(generated) < len(wanted):
        raise ValueError(
            f"relax: {len(wanted) - len(generated)} of the {len(wanted)} generated "
            f"crystals handed on are not stored under campaign {run_id}; rerun "
            "its generate stage"
        )
    relaxed_store = factory.store("relaxed")
    ids = {
        doc["generated_id"]: relaxed_id_for(
            doc["generated_id"], spec.name, spec.version
        )
        for doc in generated
    }
    done = stored_values(relaxed_store, "relaxed_id", list(ids.values()), "relaxed_id")
    todo = [doc for doc in generated if ids[doc["generated_id"]] not in done]
    build = BuildMeta(
        inputs=[f"generated:{run_id}"],
        settings={
            "potential": settings.potential.model_dump(mode="json"),
            "score": settings.score.model_dump(),
        },
    )
    structures = [Structure.from_dict(doc["structure"]) for doc in todo]
    docs: list[dict[str, Any]] = []

    def write(rows: list[EnergyRow]) -> None:
        written = [
            _relaxed_document(
                todo[row.result.index],
                structures[row.result.index],
                row,
                ids[todo[row.result.index]["generated_id"]],
                run_id,
                build,
                settings,
            ).model_dump()
            for row in rows
        ]
        upsert_documents(relaxed_store, written, "relaxed_id")
        docs.extend(written)
        logger.info(
            "relax: %d of %d crystals written (%d failed)",
            len(docs),
            len(todo),
            sum(bool(d.get("failed")) for d in docs),
        )

    if todo and settings.candidates.price_missing_phases:
        price_missing_phases(
            factory, [s.composition for s in structures], spec, settings.potential
        )
    if todo:
        # one batch in flight for all crystals; written as they finish, so a
        # stage killed mid-way keeps what it relaxed
        compute_energies(
            factory,
            structures,
            [(doc["generated_id"], None) for doc in todo],
            spec,
            relax=True,
            params=settings.potential,
            progress=progress,
            on_rows=write,
            chunk=chunk,
        )
    failed = sum(bool(d.get("failed")) for d in docs)
    return {
        "relaxed": len(docs),
        "converged": sum(bool(d.get("converged")) for d in docs),
        "failed": failed,
        "reused": len(generated) - len(todo),
        "potential": f"{spec.name} {spec.version}",
    }


def relax_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
    potential: str | None = None,
) -> dict[str, Any]:
    """Relax the crystals the generate stage made (see :func:`relax_generated`).

    ``potential`` (None: ``run.potential``) names the ML potential.
    """
    if not upstream or "generated_ids" not in upstream:
        raise ValueError("the relax stage needs the generate stage's generated_ids")
    return dict(
        relax_generated(
            factory,
            run_id,
            settings,
            list(upstream["generated_ids"]),
            potential=potential or settings.run.potential,
        )
    )


def relax_campaigns(
    factory: StoreFactory,
    run_id: str | None = None,
    potential: str | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Relax the stored generated crystals, campaign by campaign (relax-generated).

    Parameters
    ----------
    factory
        The store factory.
    run_id
        Only this campaign's crystals (all when None).
    potential
        Name of the ML potential (None: ``run.potential``, the relax stage's).
    progress
        ``progress(run_id, total)`` returns the update function of a progress
        bar for one campaign's crystals (a context manager), or None.

    Returns
    -------
    dict
        Counts ``relaxed``, ``converged``, ``failed``, ``reused`` summed over
        the campaigns, the ``potential`` and ``relaxed_total``.

    Raises
    ------
    MatforgeError
        If there are no generated crystals.
    """
    criteria = {"run_id": run_id} if run_id else {}
    by_run: dict[str | None, list[str]] = {}
    for doc in factory.store("generated").query(
        criteria, properties=["generated_id", "run_id"]
    ):
        by_run.setdefault(doc.get("run_id"), []).append(doc["generated_id"])
    if not by_run:
        raise MatforgeError("no generated crystals; run `matforge generate` first")
    totals: dict[str, Any] = {"relaxed": 0, "converged": 0, "failed": 0, "reused": 0}
    with store_writer(factory, "matforge relax-generated"):
        for run, ids in by_run.items():
            with progress(run, len(ids)) if progress else _no_bar() as update:
                out = relax_generated(
                    factory,
                    run,
                    factory.settings,
                    ids,
                    potential=potential or factory.settings.run.potential,
                    progress=update,
                )
            for key in ("relaxed", "converged", "failed", "reused"):
                totals[key] += out[key]
            totals["potential"] = out["potential"]
    totals["relaxed_total"] = factory.store("relaxed").count()
    return totals


@contextmanager
def _no_bar() -> Iterator[None]:
    yield None


def relax_key(potential: str | None) -> Any:
    """Return the key of the relax stage (its potential: the Maker's or the run's)."""

    def key(settings: MatforgeSettings) -> dict[str, Any]:
        return {
            "potential": potential or settings.run.potential,
            "score": settings.score.model_dump(),
        }

    return key


@dataclass
class RelaxGeneratedMaker(StageMaker):
    """Relax a campaign's generated crystals with an ML potential.

    Parameters
    ----------
    potential
        Name of the ML potential; None takes ``run.potential``.
    """

    name: str = "relax"
    potential: str | None = None

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""

        def work(
            factory: StoreFactory,
            settings: MatforgeSettings,
            run_id: str,
            upstream_output: dict[str, Any] | None,
        ) -> dict[str, Any]:
            return relax_stage(
                factory, settings, run_id, upstream_output, potential=self.potential
            )

        return execute_stage(self, "relax", relax_key(self.potential), work, upstream)


ENERGY_CHUNK = 128
"""Structures read and evaluated together by ``matforge energy``."""


def energies_of_records(
    factory: StoreFactory,
    records: Iterable[Any],
    spec: PotentialSpec,
    *,
    relax: bool = True,
    params: PotentialSettings | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = ENERGY_CHUNK,
) -> Iterator[dict[str, Any]]:
    """Yield the energy row of each read record (``matforge energy``), in order.

    Records stream in and are evaluated ``chunk`` structures at a time, so the
    memory stays bounded however many the inputs hold.
    Records without a structure (unreadable input) get a row naming their
    error; the others are relaxed or evaluated (:func:`compute_energies`).

    Parameters
    ----------
    factory
        The store factory (references cache, hull).
    records
        Records as :func:`matforge.data.files.read_paths` yields them.
    spec
        The potential.
    relax
        Relax first or evaluate as given.
    params
        Potential settings (default: the factory's).
    progress
        Called with 1 for every structure done.
    chunk
        Structures evaluated together.
    """
    pending: list[Any] = []

    def flush() -> Iterator[dict[str, Any]]:
        good = [r for r in pending if r.structure is not None and r.error is None]
        rows = iter(
            compute_energies(
                factory,
                [r.structure for r in good],
                [(r.input, r.material_id) for r in good],
                spec,
                relax=relax,
                params=params,
                progress=progress,
            )
            if good
            else []
        )
        for record in pending:
            if record.structure is not None and record.error is None:
                yield next(rows).as_dict()
            else:
                yield _unread_row(record, spec, relax)
        pending.clear()

    readable = 0
    for record in records:
        pending.append(record)
        readable += record.structure is not None and record.error is None
        if readable >= chunk:
            yield from flush()
            readable = 0
    if pending:
        yield from flush()


def _unread_row(record: Any, spec: PotentialSpec, relax: bool) -> dict[str, Any]:
    return {
        "input": record.input,
        "material_id": record.material_id,
        "formula": None,
        "energy_per_atom": None,
        "formation_energy_per_atom": None,
        "e_above_hull": None,
        "potential": spec.name,
        "potential_version": spec.version,
        "relaxed": relax,
        "converged": False,
        "error": record.error or "no structure in the input",
    }


def static_energy_function(
    factory: StoreFactory, spec: PotentialSpec, params: PotentialSettings | None = None
) -> Callable[[Sequence[Structure]], list[tuple[float | None, float | None]]]:
    """Return a function giving (E_form, e_above_hull) of structures as they are.

    For ``matforge ingest files --energies``: the structures are evaluated
    without relaxation (the stored cell is the one the energy belongs to),
    against the hull of each batch's systems (:func:`campaign_hull`).

    Parameters
    ----------
    factory
        The store factory (references cache, hull).
    spec
        The potential.
    params
        Potential settings (default: the factory's).
    """

    def compute(
        structures: Sequence[Structure],
    ) -> list[tuple[float | None, float | None]]:
        rows = compute_energies(
            factory,
            structures,
            [(f"structure {i}", None) for i in range(len(structures))],
            spec,
            relax=False,
            params=params,
        )
        return [(row.formation_energy_per_atom, row.e_above_hull) for row in rows]

    return compute
