"""How many of a generator's own data crystals a campaign would call invalid.

    python bench/split_validity.py [--home DIR] [--model ID] [--split test]
                                   [--limit N] [--potential NAME] [--json FILE]

The crystals of one split of a trained model (the hydrides it was trained or
tested on) go through the campaign's own relaxation and judgement: the
missing competing phases are priced, every crystal is relaxed with the
campaigns' ML potential (``run.potential``), given its MP-compatible
formation energy and energy above the hull, and judged by the candidates'
rules (``candidates.*`` settings). The invalid share printed is what a
generator that reproduced its data exactly would score in
``bench/campaign.py``'s "invalid after relaxation", the reference that
figure is read against. Writes only priced phases and the elemental
references' cache to the store; asserts nothing.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="MATFORGE_HOME (default: the environment's)")
    parser.add_argument("--model", help="model id (default: the latest)")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--limit", type=int, help="first N crystals of the split")
    parser.add_argument(
        "--potential", help="ML potential (default: run.potential, the campaigns')"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args()


def judge_crystals(factory, settings, structures, ids, potential=None) -> dict:
    """Relax and judge crystals as a campaign does; return the figures.

    The missing competing phases are priced, every crystal is relaxed with
    ``potential`` (default ``run.potential``), given its formation energy and
    energy above the hull, and judged by the candidates' rules. The figures
    hold one row per crystal under ``crystals``.
    """
    from campaign import ENERGY_KINDS, reason_kinds
    from matforge.core.validity import candidate_problems
    from matforge.flows.relax import (
        compute_energies,
        potential_of,
        price_missing_phases,
    )

    p = settings.candidates
    spec = potential_of(settings, potential or settings.run.potential)
    print(f"relaxing {len(ids)} crystals with {spec.name} {spec.version}")
    started = time.perf_counter()
    if p.price_missing_phases:
        price_missing_phases(
            factory, [s.composition for s in structures], spec, settings.potential
        )
    rows = compute_energies(
        factory,
        structures,
        [(i, i) for i in ids],
        spec,
        relax=True,
        params=settings.potential,
    )
    seconds = time.perf_counter() - started
    crystals = []
    kinds: collections.Counter = collections.Counter()
    for material_id, structure, row in zip(ids, structures, rows, strict=True):
        result = row.result
        failure = row.error or result.error
        problems = candidate_problems(
            result.structure if failure is None else None,
            structure.composition,
            failed=failure is not None or result.energy is None,
            failure_reason=failure,
            converged=bool(result.converged),
            formation_energy_per_atom=row.formation_energy_per_atom,
            e_above_hull=row.e_above_hull,
            **p.validity_rules(),
        )
        found = reason_kinds(problems)
        kinds.update(found)
        crystals.append(
            {
                "material_id": material_id,
                "formula": row.formula,
                "steps": result.steps,
                "formation_energy_per_atom": row.formation_energy_per_atom,
                "e_above_hull": row.e_above_hull,
                "reasons": problems,
                "energy_only": bool(found) and found <= ENERGY_KINDS,
            }
        )
    invalid = sum(bool(c["reasons"]) for c in crystals)
    energy_only = sum(c["energy_only"] for c in crystals)
    steps = [c["steps"] for c in crystals if isinstance(c["steps"], int)]
    figures = {
        "crystals": len(crystals),
        "invalid": invalid,
        "invalid_share": invalid / max(len(crystals), 1),
        "invalid_for_energy_only": energy_only,
        "invalid_by_reason": dict(kinds),
        "median_relax_steps": statistics.median(steps) if steps else None,
        "seconds": seconds,
    }
    print(
        f"invalid after relaxation: {invalid} of {len(crystals)} "
        f"({100 * figures['invalid_share']:.1f} %); for its energy alone "
        f"{energy_only}, for anything else {invalid - energy_only}"
    )
    print(
        "  reasons (a crystal may have several): "
        + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    )
    print(
        f"relaxation steps: median {figures['median_relax_steps']}; "
        f"{seconds / 60:.1f} min"
    )
    return {**figures, "crystals": crystals}


def main() -> int:
    args = _arguments()
    if args.home:
        import os

        os.environ["MATFORGE_HOME"] = args.home

    from matforge.flows.generator import load_model, split_crystals
    from matforge.settings import load_settings
    from matforge.stores import StoreFactory

    settings = load_settings()
    with StoreFactory(settings) as factory:
        doc, _ = load_model(factory, args.model)
        graphs, structures = split_crystals(factory, doc)[args.split]
        if args.limit:
            graphs, structures = graphs[: args.limit], structures[: args.limit]
        ids = [g.material_id for g in graphs]
        print(f"model {doc.model_id}: {len(ids)} crystals of its {args.split} split")
        figures = judge_crystals(factory, settings, structures, ids, args.potential)
    figures = {"model_id": doc.model_id, "split": args.split} | figures
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
