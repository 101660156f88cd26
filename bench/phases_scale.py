"""How well the legacy-to-MP2020 move of the offline competing phases works.

    python bench/phases_scale.py [--shared DIR] [--limit N]

Reads ``mp_formation_energies.csv.gz`` (84,295 MP compositions, legacy
corrections) and moves every entry to the MP2020 scale with
:func:`matforge.core.phases.legacy_to_mp2020_shift`. Prints:

1. how many entries move, by how much (median and largest |shift| per term),
   how many are left out and why, and the time the move took;
2. agreement with MP2020 values of the same MP ids, before and after the
   move: the MP-20 sample (``mp20_sample/*.csv``, all chemistries, MP2020),
   overall and for the entries each term touches;
3. agreement with ``mp_metal_hydride_formulas.txt`` (several polymorphs per
   formula: its lowest value per formula is compared, as the offline file holds
   the lowest polymorph), before and after.

``--limit`` moves only the first N entries (the comparisons use those only).
Asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

from pymatgen.core import Composition
from tqdm import tqdm

from matforge.core.phases import legacy_to_mp2020_shift
from matforge.data.phases import read_gas_references


def shared_dir(given: str | None) -> Path:
    """Return the shared data folder."""
    if given:
        return Path(given)
    env = os.environ.get("MATFORGE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def agreement(pairs: list[tuple[float, float]]) -> str:
    """Return 'n, median |a-b|, share within 0.02, max' of value pairs."""
    if not pairs:
        return "n=0"
    errors = sorted(abs(a - b) for a, b in pairs)
    within = sum(e <= 0.02 for e in errors) / len(errors)
    return (
        f"n={len(errors):5d}  median {statistics.median(errors):.4f}  "
        f"within 0.02: {100 * within:5.1f} %  max {errors[-1]:.3f} eV/atom"
    )


def main() -> None:
    """Run the measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    gas = read_gas_references(shared / "mp_elemental_references.json.gz")

    with gzip.open(shared / "mp_formation_energies.csv.gz", "rt") as handle:
        rows = list(csv.DictReader(handle))[: args.limit]
    started = time.perf_counter()
    moved: dict[str, tuple[str, float, float, bool]] = {}
    term_shifts: dict[str, list[float]] = defaultdict(list)
    reasons: Counter[str] = Counter()
    by_formula: dict[str, str] = {}
    for row in tqdm(rows, desc="move", mininterval=5):
        comp = Composition(row["composition"])
        move = legacy_to_mp2020_shift(comp, gas)
        legacy = float(row["formation_energy_per_atom"])
        moved[row["task_id"]] = (
            comp.reduced_formula,
            legacy,
            legacy + move.shift,
            move.reliable,
        )
        by_formula[comp.reduced_formula] = row["task_id"]
        for name, value in move.terms.items():
            term_shifts[name].append(value)
        if not move.reliable:
            reasons[move.reason.split(":")[0]] += 1
    elapsed = time.perf_counter() - started

    shifts = [abs(m[2] - m[1]) for m in moved.values() if m[3]]
    print(f"moved {len(moved)} entries in {elapsed:.0f} s")
    print(
        f"  reliable {sum(m[3] for m in moved.values())}, "
        f"moved by more than 0.02 eV/atom: {sum(s > 0.02 for s in shifts)}, "
        f"more than 0.1: {sum(s > 0.1 for s in shifts)}, "
        f"largest {max(shifts):.3f} eV/atom"
    )
    for reason, count in reasons.most_common():
        print(f"  left out {count:6d}: {reason}")
    print("  term            entries   median |shift|   max |shift| (eV/atom)")
    for name in sorted(term_shifts, key=lambda n: -len(term_shifts[n])):
        values = [abs(v) for v in term_shifts[name]]
        if values:
            print(
                f"  {name:14s} {len(values):8d}   {statistics.median(values):.4f}"
                f"          {max(values):.4f}"
            )

    # MP2020 values of the same ids: the MP-20 sample
    truth: dict[str, float] = {}
    for split in ("train", "val", "test"):
        with open(shared / "mp20_sample" / f"{split}.csv", encoding="utf-8") as h:
            for row in csv.DictReader(h):
                truth[row["material_id"]] = float(row["formation_energy_per_atom"])
    print("\nMP-20 sample (MP2020, same MP id), legacy -> moved:")
    common = [i for i in truth if i in moved]
    groups: dict[str, list[str]] = defaultdict(list)
    for material_id in common:
        formula = moved[material_id][0]
        move = legacy_to_mp2020_shift(Composition(formula), gas)
        groups["all"].append(material_id)
        groups["reliable" if move.reliable else "left out"].append(material_id)
        for name in {n.split()[0] for n in move.terms}:
            groups[f"with {name} term"].append(material_id)
    for name, ids in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        before = [(moved[i][1], truth[i]) for i in ids]
        after = [(moved[i][2], truth[i]) for i in ids]
        print(f"  {name:22s} before: {agreement(before)}")
        print(f"  {'':22s} after:  {agreement(after)}")

    # the metal-hydride formulas: lowest value per formula
    lowest: dict[str, float] = {}
    path = shared / "mp_metal_hydride_formulas.txt"
    with open(path, encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            formula, value = line.split()
            key = Composition(formula).reduced_formula
            lowest[key] = min(lowest.get(key, float("inf")), float(value))
    pairs = [(moved[by_formula[f]], v) for f, v in lowest.items() if f in by_formula]
    print(f"\n{path.name} (lowest per formula), {len(pairs)} formulas in the file:")
    print(f"  before: {agreement([(m[1], v) for m, v in pairs])}")
    print(f"  after:  {agreement([(m[2], v) for m, v in pairs])}")
    hydride_shift = [m[2] - m[1] for m, _ in pairs]
    print(
        f"  their move: median {statistics.median(hydride_shift):+.4f}, "
        f"range {min(hydride_shift):+.3f} .. {max(hydride_shift):+.3f} eV/atom"
    )


if __name__ == "__main__":
    main()
