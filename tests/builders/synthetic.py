"""TEST DATA: synthetic relaxed documents made from the seed hydrides.

No potential is run. Each document is a seed hydride (or a copy with one metal
substituted) that was perturbed, strained, rotated or doubled, so that many
are duplicates of each other; a few are rattled hard enough to be new
crystals. The energies are made up: the seed's formation energy when it has
one, otherwise a number drawn from the formula, plus noise. A few relaxations
are marked failed or not converged. Used by the tests and by bench/dedup.py.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import numpy as np
from pymatgen.core import Structure
from pymatgen.core.operations import SymmOp

from matforge.core.chemistry import is_metal_hydride
from matforge.schemas.relaxed import RelaxedDoc

POTENTIAL = "synthetic-test-data"
SUBSTITUTE = {
    "Ti": "Zr", "Zr": "Hf", "Hf": "Ti", "Mg": "Ca", "Ca": "Sr", "Sr": "Ba",
    "Li": "Na", "Na": "K", "K": "Rb", "Y": "Sc", "Sc": "Y", "La": "Ce",
    "V": "Nb", "Nb": "Ta", "Ta": "V", "Fe": "Co", "Co": "Ni", "Ni": "Fe",
}  # fmt: skip


def seed_hydrides(
    shared: Path, max_sites: int = 10
) -> list[tuple[str, Structure, float | None]]:
    """Return (id, structure, formation energy) of the small seed metal hydrides."""
    with gzip.open(shared / "hydrides_seed.json.gz", "rt") as handle:
        records = json.load(handle)
    seeds = []
    for r in records:
        s = Structure.from_dict(r["structure"])
        if len(s) <= max_sites and is_metal_hydride(s.composition):
            seeds.append((r["material_id"], s, r.get("formation_energy_per_atom")))
    return seeds


def _made_up_energy(formula: str) -> float:
    return -0.6 + 0.7 * (zlib.crc32(formula.encode()) % 1000) / 1000


def _substituted(s: Structure) -> Structure | None:
    metals = [el.symbol for el in s.composition.elements if el.symbol in SUBSTITUTE]
    if not metals:
        return None
    out = s.copy()
    out.replace_species({metals[0]: SUBSTITUTE[metals[0]]})
    # the substituted metal is bigger or smaller: the cell follows, a little
    out.scale_lattice(out.volume * 1.04)
    return out


def variant(s: Structure, rng: np.random.Generator) -> Structure:
    """Return the same crystal, perturbed, strained, rotated or as a supercell."""
    out = s.copy()
    kind = rng.integers(4)
    if kind == 1:
        out.apply_strain(float(rng.uniform(-0.02, 0.02)))
    elif kind == 2:
        axis = rng.normal(size=3)
        op = SymmOp.from_axis_angle_and_translation(axis, float(rng.uniform(0, 180)))
        out = Structure(
            op.operate_multi(out.lattice.matrix),
            out.species,
            out.frac_coords,
        )
    elif kind == 3 and len(out) <= 5:
        out.make_supercell([1, 1, 2])
    out.perturb(0.03, min_distance=0.0, seed=int(rng.integers(1 << 30)))
    return out


def synthetic_relaxed(
    shared: Path,
    n: int,
    seed: int = 0,
    start: int = 0,
    run_id: str = "test-run",
    rattled: float = 0.1,
) -> list[RelaxedDoc]:
    """Return ``n`` synthetic relaxed documents (TEST DATA, made-up energies).

    Parameters
    ----------
    shared
        The offline data folder (seed hydrides).
    n
        How many documents.
    seed
        Random seed; the same arguments give the same documents.
    start
        Number of the first generated id (``gen-00000``), to add more later.
    run_id
        The run id written on every document.
    rattled
        Share of the crystals rattled by 0.5 A (most become crystals of their own).
    """
    rng = np.random.default_rng(seed)
    seeds = seed_hydrides(shared)
    prototypes: list[tuple[str, Structure, float]] = []
    for material_id, s, e_form in seeds:
        energy = e_form if e_form is not None else _made_up_energy(s.formula)
        prototypes.append((material_id, s, energy))
        sub = _substituted(s)
        if sub is not None:
            prototypes.append((f"{material_id}-sub", sub, _made_up_energy(sub.formula)))
    docs = []
    for k in range(start, start + n):
        _, proto, energy = prototypes[int(rng.integers(len(prototypes)))]
        relaxed = variant(proto, rng)
        if rng.random() < rattled:  # most likely a crystal of its own
            relaxed.perturb(0.5, min_distance=0.3, seed=int(rng.integers(1 << 30)))
        initial = relaxed.copy()
        initial.perturb(0.1, min_distance=0.0, seed=int(rng.integers(1 << 30)))
        generated_id = f"gen-{k:05d}"
        fate = rng.random()
        if fate < 0.03:
            docs.append(
                RelaxedDoc.from_failure(
                    generated_id=generated_id,
                    initial_structure=initial,
                    potential=POTENTIAL,
                    reason="test data: a made-up failure",
                    run_id=run_id,
                )
            )
            continue
        docs.append(
            RelaxedDoc.from_relaxation(
                generated_id=generated_id,
                initial_structure=initial,
                structure=relaxed,
                potential=POTENTIAL,
                converged=fate >= 0.06,
                steps=int(rng.integers(5, 200)),
                energy_per_atom=-4.0 + energy,
                formation_energy_per_atom=energy + float(rng.normal(0, 0.02)),
                e_above_hull=float(abs(rng.normal(0, 0.08))),
                run_id=run_id,
            )
        )
    return docs
