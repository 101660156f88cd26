"""A campaign's crystals against the Materials Project's competing phases.

    python bench/phases_campaign.py --home DIR [--shared DIR]

Reads the ``relaxed``, ``candidates`` and ``hydrides`` collections of a
campaign's home (e.g. after ``matforge run --quick``) and, for every relaxed
crystal with a formation energy, computes ``e_above_hull`` against the hull of
its chemical system built from the offline MP phases moved to MP2020
(:mod:`matforge.data.phases`), the MP-20 sample and the stored hydrides, the
elements at 0 (:mod:`matforge.core.hull`). Prints, per crystal, the stored and
the new value and the decomposition; how many candidates were "stable" before
and after (``candidates.stable_e_above_hull``); the S.U.N. rate at 0.1 and 0.0
eV/atom (:mod:`matforge.core.sun`) with the candidates builder's duplicate and
novelty verdicts; the stored and the MatterGen-style mean relaxation RMSD.
Asserts nothing and writes nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from matforge.core.hull import HullCalculator
from matforge.core.sun import SunRecord, matched_rmsd, sun_rate
from matforge.data.phases import hydride_phases, offline_phases
from matforge.settings import load_settings
from matforge.stores import StoreFactory


def shared_dir(given: str | None) -> Path:
    """Return the shared data folder."""
    if given:
        return Path(given)
    env = os.environ.get("MATFORGE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def _docs(factory: StoreFactory, name: str) -> list[dict[str, Any]]:
    return list(factory.store(name)._collection.find({}, {"_id": 0}))


def _value(value: float | None) -> float:
    return math.nan if value is None else value


def print_table(rows: list[tuple]) -> None:
    """Print each crystal: E_form, stored and new e_above_hull, decomposition."""
    print(f"\n{'formula':14s} {'E_form':>7s} {'stored':>7s} {'new':>7s}  products")
    for doc, candidate, new, _ in sorted(
        rows, key=lambda r: r[2].e_above_hull if r[2] else math.inf
    ):
        e_form = _value(doc.get("formation_energy_per_atom"))
        stored = _value(doc.get("e_above_hull"))
        products = new.decomposition_text if new else doc.get("failure_reason", "")
        status = f"  [{candidate['status']}]" if candidate else ""
        print(
            f"{doc['formula']:14s} {e_form:7.3f} {stored:7.3f} "
            f"{_value(new.e_above_hull if new else None):7.3f}  {products}{status}"
        )


def print_counts(rows: list[tuple], stable_e_above_hull: float) -> None:
    """Print stable candidates before and after, and how e_above_hull moved."""
    ranked = [(c, n) for _, c, n, _ in rows if c.get("status") == "candidate"]
    before = sum(bool(c.get("is_stable")) for c, _ in ranked)
    after = sum(bool(n and n.stable) for _, n in ranked)
    both = sum(bool(c.get("is_stable")) and bool(n and n.stable) for c, n in ranked)
    print(
        f"\ncandidates (status 'candidate'): {len(ranked)}; stable (<= "
        f"{stable_e_above_hull} eV/atom) before: {before}, after: {after}, "
        f"stable in both: {both}"
    )
    pairs = [
        (d["e_above_hull"], n.e_above_hull, d["formation_energy_per_atom"])
        for d, _, n, _ in rows
        if n is not None and d.get("e_above_hull") is not None
    ]
    if pairs:
        shifts = [new - old for old, new, _ in pairs]
        equal = sum(abs(old - e_form) < 1e-6 for old, _, e_form in pairs)
        print(
            f"e_above_hull new - stored: median {statistics.median(shifts):+.3f}, "
            f"min {min(shifts):+.3f}, max {max(shifts):+.3f} eV/atom; the stored "
            f"value equals E_form for {equal} of {len(pairs)}"
        )


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--shared", default=None)
    args = parser.parse_args()
    settings = load_settings(home=Path(args.home))
    params = settings.candidates
    started = time.perf_counter()
    with StoreFactory(settings) as factory:
        relaxed = _docs(factory, "relaxed")
        candidates = {d["candidate_id"]: d for d in _docs(factory, "candidates")}
        hydrides = _docs(factory, "hydrides")
    offline = offline_phases(shared_dir(args.shared))
    crystals = [
        d
        for d in relaxed
        if not d.get("failed") and d.get("formation_energy_per_atom") is not None
    ]
    systems = {d["chemsys"] for d in crystals}
    index = offline.index_for(systems)
    index.add(d.as_phase() for d in hydride_phases(hydrides))
    hull = HullCalculator(
        index,
        stable_tolerance=params.stable_e_above_hull,
        metastable_threshold=params.max_e_above_hull,
    )
    print(
        f"{len(relaxed)} relaxed crystals, {len(crystals)} with an energy, "
        f"{len(systems)} chemical systems, {len(index)} phases "
        f"({time.perf_counter() - started:.0f} s to read and index)"
    )
    rows, records = [], []
    for doc in relaxed:
        new = None
        if doc in crystals:
            structure = Structure.from_dict(doc["structure"])
            new = hull.assess(structure.composition, doc["formation_energy_per_atom"])
        candidate = candidates.get(doc["relaxed_id"], {})
        rmsd_mg = None
        if doc.get("structure") and doc.get("initial_structure"):
            rmsd_mg = matched_rmsd(
                Structure.from_dict(doc["initial_structure"]),
                Structure.from_dict(doc["structure"]),
            )
        rows.append((doc, candidate, new, rmsd_mg))
        records.append(
            SunRecord(
                id=doc["relaxed_id"],
                e_above_hull=None if new is None else new.e_above_hull,
                unique=candidate.get("status") == "candidate",
                novel=bool(candidate.get("is_novel")),
                same_ratio=bool(candidate.get("same_ratio")),
                rmsd=rmsd_mg,
            )
        )
    print_table(rows)
    print_counts(rows, params.stable_e_above_hull)
    summary = sun_rate(records)
    for counts in summary.by_threshold:
        print(
            f"S.U.N. at {counts.threshold:.1f} eV/atom: {counts.sun}/{counts.total} "
            f"= {100 * counts.sun_rate:.1f} % (stable {counts.stable}, new formula "
            f"{counts.sun_new_formula})"
        )
    stored_rmsd = [d["rmsd"] for d, *_ in rows if d.get("rmsd") is not None]
    if stored_rmsd:
        print(
            f"mean RMSD generated -> relaxed: stored (site_rmsd) "
            f"{statistics.mean(stored_rmsd):.3f} A over {len(stored_rmsd)}; "
            f"MatterGen-style {summary.mean_rmsd:.3f} A over {summary.rmsd_count}"
        )
    print(f"phase diagrams built: {hull.built}")


if __name__ == "__main__":
    main()
