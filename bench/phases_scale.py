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
   the lowest polymorph), before and after; and the README's way (every line).

``--limit`` moves only the first N entries (the comparisons use those only).
Asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from pymatgen.core import Composition
from tqdm import tqdm

from matforge.core.phases import ScaleShift, legacy_to_mp2020_shift
from matforge.data.phases import OfflineRow, read_gas_references, read_offline_rows


@dataclass(frozen=True)
class Moved:
    """One offline entry: formula, legacy value and its move."""

    formula: str
    legacy: float
    move: ScaleShift

    @property
    def moved(self) -> float:
        """The value on the MP2020 scale (pymatgen's fallback where unreliable)."""
        return self.legacy + self.move.shift


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


def move_all(shared: Path, limit: int | None) -> dict[str, Moved]:
    """Move every offline entry; print the counts, the terms and the time."""
    gas = read_gas_references(shared / "mp_elemental_references.json.gz")
    rows = [
        r
        for r in read_offline_rows(shared / "mp_formation_energies.csv.gz")
        if isinstance(r, OfflineRow)
    ][:limit]
    started = time.perf_counter()
    moved = {}
    for row in tqdm(rows, desc="move", mininterval=10):
        moved[row.material_id] = Moved(
            row.composition.reduced_formula,
            row.formation_energy_per_atom,
            legacy_to_mp2020_shift(row.composition, gas),
        )
    elapsed = time.perf_counter() - started
    reliable = [m for m in moved.values() if m.move.reliable]
    shifts = [abs(m.move.shift) for m in reliable]
    print(f"moved {len(moved)} entries in {elapsed:.0f} s")
    print(
        f"  reliable {len(reliable)}; moved by more than 0.02 eV/atom: "
        f"{sum(s > 0.02 for s in shifts)}, more than 0.1: "
        f"{sum(s > 0.1 for s in shifts)}, more than 0.3: "
        f"{sum(s > 0.3 for s in shifts)}; largest {max(shifts):.3f} eV/atom"
    )
    reasons = Counter(
        m.move.reason.split(":")[0] for m in moved.values() if not m.move.reliable
    )
    for reason, count in reasons.most_common():
        print(f"  left out {count:6d}: {reason}")
    terms: dict[str, list[float]] = defaultdict(list)
    for m in reliable:
        for name, value in m.move.terms.items():
            terms[name].append(abs(value))
    print("  term            entries   median |shift|   max |shift| (eV/atom)")
    for name in sorted(terms, key=lambda n: -len(terms[n])):
        values = terms[name]
        print(
            f"  {name:14s} {len(values):8d}   {statistics.median(values):.4f}"
            f"          {max(values):.4f}"
        )
    return moved


def compare_mp20(shared: Path, moved: dict[str, Moved]) -> None:
    """Print the agreement with MP-20's MP2020 values of the same ids."""
    truth: dict[str, float] = {}
    for split in ("train", "val", "test"):
        path = shared / "mp20_sample" / f"{split}.csv"
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                truth[row["material_id"]] = float(row["formation_energy_per_atom"])
    groups: dict[str, list[str]] = defaultdict(list)
    for material_id in (i for i in truth if i in moved):
        move = moved[material_id].move
        groups["all"].append(material_id)
        if abs(move.shift) > 0.02:
            groups["moved > 0.02"].append(material_id)
        if not move.reliable:
            groups["left out (fallback)"].append(material_id)
        for kind in {n.split()[0] for n in move.terms}:
            groups[f"with a {kind} term"].append(material_id)
    print("\nMP-20 sample (MP2020, same MP id), legacy -> moved:")
    for name, ids in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        before = [(moved[i].legacy, truth[i]) for i in ids]
        after = [(moved[i].moved, truth[i]) for i in ids]
        print(f"  {name:22s} before: {agreement(before)}")
        print(f"  {'':22s} after:  {agreement(after)}")


def compare_hydride_formulas(shared: Path, moved: dict[str, Moved]) -> None:
    """Print the agreement with mp_metal_hydride_formulas.txt."""
    by_formula = {m.formula: m for m in moved.values()}
    lowest: dict[str, float] = {}
    every: list[tuple[str, float]] = []
    path = shared / "mp_metal_hydride_formulas.txt"
    with path.open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            formula, value = line.split()
            key = Composition(formula).reduced_formula
            every.append((key, float(value)))
            lowest[key] = min(lowest.get(key, float("inf")), float(value))
    pairs = [(by_formula[f], v) for f, v in lowest.items() if f in by_formula]
    print(f"\n{path.name}: {len(lowest)} formulas, {len(pairs)} in the offline file")
    print(
        f"  lowest per formula, legacy: {agreement([(m.legacy, v) for m, v in pairs])}"
    )
    print(
        f"  lowest per formula, moved:  {agreement([(m.moved, v) for m, v in pairs])}"
    )
    lines = [(by_formula[f].legacy, v) for f, v in every if f in by_formula]
    print(f"  every line, legacy (the README's figure): {agreement(lines)}")
    shift = [m.moved - m.legacy for m, _ in pairs]
    print(
        f"  their move: median {statistics.median(shift):+.4f}, "
        f"range {min(shift):+.3f} .. {max(shift):+.3f} eV/atom"
    )


def main() -> None:
    """Run the measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    moved = move_all(shared, args.limit)
    compare_mp20(shared, moved)
    compare_hydride_formulas(shared, moved)


if __name__ == "__main__":
    main()
