"""An independent check of the "stable" flags: candidates against the raw MP file.

    python bench/hull_check.py --home DIR [--shared DIR]

For every ranked candidate of the store in ``--home`` (e.g. after ``matforge
run --quick``), builds the hull of its chemical system from the raw rows of
``mp_formation_energies.csv.gz`` and the elements at 0 with pymatgen's own
``PhaseDiagram``, none of matforge's phase code in between, and prints the
candidate's stored ``e_above_hull`` beside the distance to that hull. A
candidate flagged stable whose system holds a lower combination of MP phases
shows up as a stored value at or below 0 with a raw distance well above
``candidates.stable_e_above_hull``. The raw file carries MP's legacy
corrections and matforge's hulls the MP2020 scale, so the two columns differ
by a few tens of meV/atom where the schemes differ. Asserts nothing and writes
nothing.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from matforge.data.phases import OFFLINE_FILE, OfflineRow, read_offline_rows
from matforge.settings import load_settings
from matforge.stores import StoreFactory
from matforge.stores.queries import ranked_candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--shared", type=Path, default=None)
    args = parser.parse_args()
    os.environ["MATFORGE_HOME"] = str(args.home)
    settings = load_settings()
    shared = args.shared or settings.shared_data_dir()
    # the file's rows as written, legacy corrections and all (no move, no hull)
    by_elements: dict[frozenset[str], list[OfflineRow]] = {}
    for row in read_offline_rows(shared / OFFLINE_FILE):
        if isinstance(row, OfflineRow):
            key = frozenset(e.symbol for e in row.composition)
            by_elements.setdefault(key, []).append(row)
    tolerance = settings.candidates.stable_e_above_hull
    with StoreFactory(settings) as factory:
        candidates = ranked_candidates(factory.store("candidates"))
    flagged = suspicious = 0
    print(f"{'formula':<14} {'E_form':>7} {'stored':>7} {'raw MP':>7}  stable")
    for cand in candidates:
        comp = Composition(cand["formula"])
        elements = frozenset(e.symbol for e in comp)
        entries = [PDEntry(Composition(el), 0.0) for el in elements]
        for key, phases in by_elements.items():
            if key <= elements:
                entries += [
                    PDEntry(
                        r.composition,
                        r.formation_energy_per_atom * r.composition.num_atoms,
                        name=r.material_id,
                    )
                    for r in phases
                ]
        diagram = PhaseDiagram(entries)
        e_form = cand["formation_energy_per_atom"]
        raw = e_form - diagram.get_hull_energy_per_atom(comp)
        stable = bool(cand.get("is_stable"))
        flagged += stable
        suspicious += stable and raw > tolerance
        print(
            f"{cand['formula']:<14} {e_form:>7.3f} {cand['e_above_hull']:>7.3f} "
            f"{raw:>7.3f}  {'yes' if stable else 'no'}"
        )
    print(
        f"{flagged} of {len(candidates)} candidates flagged stable; {suspicious} of "
        f"them lie more than {tolerance} eV/atom above the raw MP hull"
    )


if __name__ == "__main__":
    main()
