"""The paper's table end to end on known hydrides: ML relaxation -> DFT validation.

A known-answer check of the validation path: instead of generated crystals,
it makes candidates out of small seed hydrides whose MP formation energies are
known: each is relaxed with the ML
potential of the settings (``matforge energy``'s machinery: MP2020-compatible
formation energy), written as a ``RelaxedDoc``, judged by the candidates
builder, and the top K are validated with GPAW (``matforge validate``). Prints
the candidates table (predicted, DFT, squared error) and the time of each
step; asserts nothing.

    python bench/dft_validate_seeds.py [--top 3] [--home DIR]
        [--seeds mp-23703 mp-24726 mp-23710] [--ecut 600] [--kpoint-density 4]

The store of ``--home`` (default: the DFT bench's, so elemental references
computed by ``dft_known_hydrides.py`` with the same settings are reused) keeps
everything; a second run recomputes nothing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from pymatgen.core import Structure

from matforge.builders.candidates import build_candidates
from matforge.data.references import ensure_references
from matforge.flows.dft import validate_candidates
from matforge.flows.relax import compute_energies, potential_of
from matforge.schemas.relaxed import RelaxedDoc
from matforge.settings import load_settings
from matforge.stores import StoreFactory, upsert_documents
from matforge.stores.queries import ranked_candidates

SEEDS = ["mp-23703", "mp-24726", "mp-23710", "mp-24237"]  # LiH TiH2 MgH2 ScH2


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def seed_structures(path: Path, ids: list[str]) -> dict[str, Structure]:
    with gzip.open(path, "rt") as handle:
        records = {r["material_id"]: r for r in json.load(handle)}
    return {mid: Structure.from_dict(records[mid]["structure"]) for mid in ids}


def relaxed_docs(factory: StoreFactory, seeds: dict[str, Structure]) -> list:
    settings = factory.settings
    spec = potential_of(settings)
    rows = compute_energies(
        factory,
        list(seeds.values()),
        [(mid, mid) for mid in seeds],
        spec,
        relax=True,
        params=settings.potential,
    )
    docs = []
    for (mid, initial), row in zip(seeds.items(), rows, strict=True):
        if row.error is not None:
            say(f"  {mid}: {row.error}")
            continue
        docs.append(
            RelaxedDoc.from_relaxation(
                generated_id=f"seed-{mid}",
                initial_structure=initial,
                structure=row.result.structure,
                potential=spec.name,
                potential_version=spec.version,
                converged=row.result.converged,
                energy_per_atom=row.result.energy_per_atom,
                formation_energy_per_atom=row.formation_energy_per_atom,
                e_above_hull=row.e_above_hull,
                steps=row.result.steps,
                run_id="bench-dft-validate-seeds",
            )
        )
    return docs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--seeds", nargs="*", default=SEEDS)
    parser.add_argument("--home", default=None)
    parser.add_argument("--ecut", type=float, default=None)
    parser.add_argument("--kpoint-density", type=float, default=None)
    args = parser.parse_args()
    home = Path(
        args.home
        or os.environ.get("MATFORGE_BENCH_HOME")
        or Path(tempfile.gettempdir()) / "matforge-bench-dft"
    )
    dft = {"ecut": args.ecut, "kpoint_density": args.kpoint_density}
    settings = load_settings(
        home=home,
        store={"uri": None},
        dft={k: v for k, v in dft.items() if v is not None},
    )
    seeds = seed_structures(
        settings.shared_data_dir() / "hydrides_seed.json.gz", args.seeds
    )
    with StoreFactory(settings) as factory:
        started = time.perf_counter()
        say(f"ML relaxation of {len(seeds)} seed hydrides ({settings.potential.name})")
        docs = relaxed_docs(factory, seeds)
        upsert_documents(
            factory.store("relaxed"), [d.model_dump() for d in docs], "relaxed_id"
        )
        ml_s = time.perf_counter() - started
        ensure_references(factory)
        build_candidates(factory)
        build_s = time.perf_counter() - started - ml_s
        say(f"validating the top {args.top} with GPAW")
        summary = validate_candidates(factory, top=args.top, progress=say)
        build_candidates(factory)
        rows = ranked_candidates(factory.store("candidates"), top=args.top + 2)
    print(
        f"ML relaxations {ml_s:.0f} s, candidates build {build_s:.1f} s, DFT "
        f"validation {summary.seconds:.0f} s (settings {summary.settings_hash})"
    )
    print(
        f"{'rank':>4} {'formula':8} {'E_form pred':>11} {'E_form DFT':>10} "
        f"{'sq. error':>9} {'score':>6}"
    )
    for row in rows:
        dft_value = row.get("formation_energy_dft_per_atom")
        error = row.get("squared_error")
        print(
            f"{row['rank']:>4} {row['formula']:8} "
            f"{row['formation_energy_per_atom']:11.3f} "
            f"{'-' if dft_value is None else f'{dft_value:.3f}':>10} "
            f"{'-' if error is None else f'{error:.4f}':>9} "
            f"{row['storage_score']:6.3f}"
        )
    for line in summary.rows:
        print(
            f"  {line.formula}: {line.status} in {line.seconds:.0f} s"
            + (f" ({line.error.splitlines()[0]})" if line.error else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
