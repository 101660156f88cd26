"""The calibration: the pipeline's formation energies against known DFT values.

Two comparisons, each with the chosen potential and the recipe of
:mod:`matforge.potentials.energies`:

- ``seed``: every real hydride in the store with a DFT (MP2020-corrected)
  formation energy (the offline snapshot when the store holds none);
- ``mp_formulas``: the formulas of ``mp_metal_hydride_formulas.txt`` that some
  stored hydride (real or computed) has; per formula the lowest ML formation
  energy of those structures is compared with MP's value.

The result is stored in ``calibrations`` (one document per potential and
mode) with its parity plot in the data store.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymatgen.core import Structure

from matforge.data.offline import offline_records
from matforge.flows.relax import compute_energies, potential_of
from matforge.flows.stage import MatforgeMaker, job_factory, stage_job
from matforge.potentials.calibration import (
    FORMULAS_FILE,
    calibration_stats,
    parity_plot,
    read_formula_energies,
)
from matforge.schemas import BuildMeta
from matforge.schemas.potential import CalibrationDoc, CalibrationRow
from matforge.stores.artefacts import put_bytes

if TYPE_CHECKING:
    from matforge.potentials.registry import PotentialSpec
    from matforge.stores.factory import StoreFactory


def _seed_items(factory: StoreFactory) -> tuple[list[dict[str, Any]], str]:
    docs = list(
        factory.store("hydrides").query(
            {"source": {"$ne": "computed"}, "formation_energy_per_atom": {"$ne": None}},
            properties=["material_id", "structure", "formation_energy_per_atom"],
        )
    )
    if docs:
        return docs, "collection:hydrides"
    records = [
        r
        for r in offline_records(factory.settings.shared_data_dir())
        if r.structure is not None and r.formation_energy_per_atom is not None
    ]
    items = [
        {
            "material_id": r.material_id,
            "structure": r.structure,
            "formation_energy_per_atom": float(r.formation_energy_per_atom),
        }
        for r in records
    ]
    return items, "hydrides_seed.json.gz"


def run_calibration(
    factory: StoreFactory,
    spec: PotentialSpec,
    *,
    relax: bool = False,
    progress: Callable[[int], None] | None = None,
) -> tuple[CalibrationDoc, bytes]:
    """Compare the pipeline's formation energies with DFT and store the result.

    Parameters
    ----------
    factory
        The store factory.
    spec
        The potential.
    relax
        Relax the structures first (the DFT structures are MP-relaxed already).
    progress
        Called with 1 for every structure evaluated.

    Returns
    -------
    doc, png
        The stored calibration document and its parity plot.
    """
    started = time.perf_counter()
    seeds, seed_source = _seed_items(factory)
    formulas = read_formula_energies(factory.settings.shared_data_dir() / FORMULAS_FILE)
    others = list(
        factory.store("hydrides").query(
            {"reduced_formula": {"$in": sorted(formulas)}},
            properties=["material_id", "structure", "reduced_formula"],
        )
    )
    items: dict[str, Structure] = {}
    for item in [*seeds, *others]:
        structure = item["structure"]
        if isinstance(structure, dict):
            structure = Structure.from_dict(structure)
        items[str(item["material_id"])] = structure
    ids = sorted(items)
    rows_out = compute_energies(
        factory,
        [items[i] for i in ids],
        [(i, i) for i in ids],
        spec,
        relax=relax,
        progress=progress,
    )
    by_id = {row.material_id: row for row in rows_out}
    rows: list[CalibrationRow] = []
    for item in seeds:
        row = by_id[str(item["material_id"])]
        rows.append(
            CalibrationRow(
                material_id=row.material_id,
                formula=row.formula,
                dataset="seed",
                dft=float(item["formation_energy_per_atom"]),
                ml=row.formation_energy_per_atom,
                error=row.error if row.formation_energy_per_atom is None else None,
            )
        )
    best: dict[str, Any] = {}
    for item in others:
        row = by_id[str(item["material_id"])]
        formula = row.formula
        current = best.get(formula)
        value = row.formation_energy_per_atom
        if current is None or (
            value is not None
            and (
                current.formation_energy_per_atom is None
                or value < current.formation_energy_per_atom
            )
        ):
            best[formula] = row
    for formula, row in sorted(best.items()):
        if formula not in formulas:
            continue
        rows.append(
            CalibrationRow(
                material_id=row.material_id,
                formula=formula,
                dataset="mp_formulas",
                dft=formulas[formula],
                ml=row.formation_energy_per_atom,
                error=row.error if row.formation_energy_per_atom is None else None,
            )
        )
    stats = [
        calibration_stats([r for r in rows if r.dataset == name], name)
        for name in ("seed", "mp_formulas")
    ]
    stats.append(calibration_stats(rows, "all"))
    mode = "relaxed" if relax else "static"
    calibration_id = f"{spec.name}:{mode}"
    png = parity_plot(rows, stats, f"{spec.name} ({spec.version}), {mode}")
    blob = f"calibration-{calibration_id.replace(':', '-')}-png"
    doc = CalibrationDoc(
        calibration_id=calibration_id,
        potential=spec.name,
        potential_version=spec.version,
        relaxed=relax,
        stats=stats,
        rows=rows,
        plot_blob=blob,
        runtime_s=time.perf_counter() - started,
        build=BuildMeta(
            inputs=[seed_source, FORMULAS_FILE, "collection:hydrides"],
            settings={"potential": factory.settings.potential.model_dump(mode="json")},
        ),
    )
    put_bytes(
        factory.data_store(),
        blob,
        png,
        calibration_id=calibration_id,
        kind="png",
        content_type="image/png",
        sha1=hashlib.sha1(png, usedforsecurity=False).hexdigest(),
    )
    factory.store("calibrations").update(
        [doc.model_dump(mode="json")], key="calibration_id"
    )
    return doc, png


@dataclass
class CalibrateMaker(MatforgeMaker):
    """Calibrate a potential's formation energies (``matforge dataset calibrate``).

    Parameters
    ----------
    name
        Job name.
    settings
        Science settings of the job (``potential`` among them).
    potential
        Potential name (``potential.name`` when None).
    relax
        Relax the DFT structures first.
    """

    name: str = "calibrate potential"
    potential: str | None = None
    relax: bool = False

    @stage_job
    def make(self) -> dict[str, Any]:
        """Run the calibration; return its summary."""
        with job_factory(self.settings, "calibrate", write=False) as factory:
            spec = potential_of(factory.settings, self.potential)
            doc, _ = run_calibration(factory, spec, relax=self.relax)
        return doc.summary()
