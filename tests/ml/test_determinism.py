"""Two processes with the same settings and seed give the same generated ids."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pymatgen.core import Lattice, Structure

from matforge.flows.generator import structure_content
from matforge.ml.sample import rounded_structure

RUN = """
import gzip, json, sys
from pymatgen.core import Structure
from matforge.flows.generator import generate_candidates, train_generator
from matforge.settings import load_settings
from matforge.stores import StoreFactory

settings = load_settings()
records = json.load(gzip.open(sys.argv[1], "rt"))[:30]
docs = []
for r in records:
    s = Structure.from_dict(r["structure"])
    if len(s) <= 8:
        docs.append({"material_id": r["material_id"], "structure": s.as_dict(),
                     "storage_score": 0.01 * len(s), "nsites": len(s)})
with StoreFactory(settings) as factory:
    factory.store("hydrides").update(docs, key="material_id")
    model = train_generator(factory, settings.ml, epochs=2)
    generated = generate_candidates(factory, settings.ml, 6, seed=3)
print(json.dumps({"model": model.model_id, "ids": [d.generated_id for d in generated]}))
"""

TINY = {
    "MATFORGE_ML__HIDDEN_DIM": "8",
    "MATFORGE_ML__LATENT_DIM": "4",
    "MATFORGE_ML__NUM_LAYERS": "1",
    "MATFORGE_ML__NUM_NOISE_LEVELS": "4",
    "MATFORGE_ML__MAX_ATOMS": "8",
    "MATFORGE_ML__STEPS_PER_LEVEL": "2",
    "MATFORGE_ML__SAMPLE_BATCH_SIZE": "4",
}


def _run(shared: Path, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATFORGE_")}
    env.update(TINY)
    env["MATFORGE_HOME"] = str(home)
    env["MATFORGE_STORE__URI"] = f"memory://{home.name}"
    env["MATFORGE_CONFIG_FILE"] = os.environ["MATFORGE_CONFIG_FILE"]
    src = Path(__file__).resolve().parents[2] / "src"
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(shared / "hydrides_seed.json.gz")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_processes_give_the_same_generated_ids(shared_data, tmp_path):
    one = _run(shared_data, tmp_path / "one")
    two = _run(shared_data, tmp_path / "two")
    assert one["model"] == two["model"]
    assert len(one["ids"]) == 6
    assert len(set(one["ids"])) == 6
    assert one["ids"] == two["ids"]


def test_rounding_hides_last_bit_differences():
    lattice = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    frac = torch.tensor([[0.123449999, 0.99999, 0.5], [0.0, 0.25, 0.75]])
    nudged = frac + torch.tensor([[2e-9, 3e-9, -1e-9], [-1e-9, 0.0, 1e-9]])
    one = rounded_structure(torch.tensor([12, 1]), frac, lattice)
    two = rounded_structure(torch.tensor([12, 1]), nudged, lattice - 1e-9)
    assert structure_content(one) == structure_content(two)
    # 0.99999 wraps to 0.0, and no -0.0 reaches the hash
    assert structure_content(one)["frac_coords"][0][1] == 0.0
    assert "-0.0" not in json.dumps(structure_content(two))


def test_structure_content_ignores_float_noise():
    base = Structure(Lattice.cubic(3.0), ["Mg", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    noisy = Structure(
        Lattice(base.lattice.matrix + 1e-7),
        ["Mg", "H"],
        [[1e-7, -1e-7, 0], [0.5 + 1e-8, 0.5, 0.5]],
    )
    assert structure_content(base) == structure_content(noisy)
    moved = Structure(base.lattice, ["Mg", "H"], [[0, 0, 0], [0.6, 0.5, 0.5]])
    assert structure_content(base) != structure_content(moved)


def test_a_campaign_owns_the_crystals_it_generates(memory_factory, shared_data):
    """The same model and seed in two campaigns give two sets of documents."""
    import gzip

    from matforge.flows.generator import generate_candidates, train_generator
    from matforge.settings import GeneratorSettings

    with gzip.open(shared_data / "hydrides_seed.json.gz", "rt") as handle:
        records = json.load(handle)
    docs = []
    for r in records[:30]:
        s = Structure.from_dict(r["structure"])
        if len(s) <= 8:
            docs.append(
                {
                    "material_id": r["material_id"],
                    "structure": s.as_dict(),
                    "storage_score": 0.01 * len(s),
                    "nsites": len(s),
                }
            )
    memory_factory.store("hydrides").update(docs, key="material_id")
    tiny = {k.removeprefix("MATFORGE_ML__").lower(): v for k, v in TINY.items()}
    settings = GeneratorSettings(**tiny)
    model = train_generator(memory_factory, settings, epochs=1)
    runs: dict = {}
    for run_id in (None, "run-a", "run-a", "run-b"):
        made = generate_candidates(
            memory_factory, settings, 3, model_id=model.model_id, run_id=run_id
        )
        runs.setdefault(run_id, []).append([d.generated_id for d in made])
    assert runs["run-a"][0] == runs["run-a"][1]  # a resumed campaign: same ids
    assert len({tuple(runs[k][0]) for k in (None, "run-a", "run-b")}) == 3
    assert memory_factory.store("generated").count({"run_id": "run-b"}) == 3
