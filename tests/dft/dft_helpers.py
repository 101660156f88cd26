"""Helpers of the DFT tests: candidates of small seed hydrides, a fake DFT code."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from matforge.builders.candidates import build_candidates
from matforge.data.references import ensure_references
from matforge.dft.runner import DftCalcResult, DftCalculation
from matforge.schemas.relaxed import RelaxedDoc
from matforge.settings import load_settings
from matforge.stores import StoreFactory, upsert_documents

# seed hydrides (material id) and made-up ML formation energies, eV/atom
SEEDS = {"mp-23703": -0.45, "mp-24726": -0.55, "mp-23710": -0.20}

FAKE_MU = {"H": -3.4, "Li": -1.9, "Mg": -1.6, "Ti": -7.9, "Na": -1.3}
FAKE_E_FORM = -0.3  # before the MP2020 H correction
RUN_ID = "r1"  # the campaign of the test candidates


def seed_structures(shared: Path) -> dict[str, Structure]:
    with gzip.open(shared / "hydrides_seed.json.gz", "rt") as handle:
        records = json.load(handle)
    return {
        r["material_id"]: Structure.from_dict(r["structure"])
        for r in records
        if r["material_id"] in SEEDS
    }


def validate_and_join(factory: StoreFactory, **options) -> Any:
    """Validate with a (fake) runner, then rebuild the candidates, as the flow does."""
    from matforge.flows.dft import validate_candidates

    summary = validate_candidates(factory, **options)
    build_candidates(factory)
    return summary


def store_candidates(factory: StoreFactory, shared: Path) -> list[RelaxedDoc]:
    """Write relaxed documents of the seed hydrides and build the candidates."""
    docs = [
        RelaxedDoc.from_relaxation(
            generated_id=f"gen-{mid}",
            initial_structure=structure,
            structure=structure,
            potential="test-potential",
            converged=True,
            energy_per_atom=-3.0,
            formation_energy_per_atom=SEEDS[mid],
            run_id=RUN_ID,
        )
        for mid, structure in seed_structures(shared).items()
    ]
    upsert_documents(
        factory.store("relaxed"), [d.model_dump() for d in docs], "relaxed_id"
    )
    ensure_references(factory)
    build_candidates(factory)
    return docs


def small_references(shared: Path, folder: Path) -> Path:
    """Write a references file holding only the LiH, TiH2 and MgH2 entries."""
    with gzip.open(shared / "mp_binaries_reference.json.gz", "rt") as handle:
        records = json.load(handle)
    keep = [r for r in records if r.get("formula") in {"LiH", "TiH2", "MgH2"}]
    path = folder / "references.json.gz"
    with gzip.open(path, "wt") as handle:
        json.dump(keep, handle)
    return path


@contextmanager
def candidates_store(shared: Path, folder: Path) -> Iterator[StoreFactory]:
    """Yield a memory store with three ranked candidates (LiH, TiH2, MgH2).

    A context manager rather than a conftest fixture: a second conftest module
    would shadow the builders tests' ``from conftest import``.
    """
    settings = load_settings(
        store={"uri": f"memory://{uuid.uuid4().hex}"},
        candidates={"references_file": str(small_references(shared, folder))},
    )
    with StoreFactory(settings) as factory:
        store_candidates(factory, shared)
        yield factory


class FakeDft:
    """A DFT code that answers at once: sum of made-up element energies.

    A compound's energy is ``sum mu_el + N * FAKE_E_FORM``; an element's is
    ``sum mu_el``. So the formation energy before corrections is FAKE_E_FORM.
    """

    def __init__(self, fail: set[str] | None = None) -> None:
        self.calls: list[DftCalculation] = []
        self.fail = fail or set()

    def __call__(self, calc: DftCalculation) -> DftCalcResult:
        self.calls.append(calc)
        comp = calc.structure.composition
        formula = comp.reduced_formula
        if formula in self.fail:
            return DftCalcResult(label=calc.label, ok=False, error="SCF diverged")
        energy = sum(FAKE_MU[el.symbol] * n for el, n in comp.items())
        if len(comp.elements) > 1:
            energy += FAKE_E_FORM * comp.num_atoms
        return DftCalcResult(
            label=calc.label,
            ok=True,
            energy=energy,
            structure=calc.structure,
            converged=True,
            steps=3 if calc.relax else 1,
            seconds=0.01,
            task_doc={"output": {"energy": energy}, "fake": True},
            parameters={"fake": True},
        )

    def formulas(self) -> list[str]:
        return [c.structure.composition.reduced_formula for c in self.calls]


def record_candidates_stage(factory: StoreFactory, output: dict[str, Any]) -> None:
    """Write a finished candidates stage of the test campaign with this output."""
    from matforge.stores.runs import stage_id, write_record

    write_record(
        factory,
        {
            "stage_id": stage_id(RUN_ID, "candidates"),
            "run_id": RUN_ID,
            "stage": "candidates",
            "status": "done",
            "updated_at": "2026-01-01T00:00:00+00:00",
            "output": output,
        },
    )
