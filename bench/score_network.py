"""The generator's score network and training step, eager and compiled.

    python bench/score_network.py [--crystals 16] [--repeats 10] [--threads 1]
                                  [--json FILE]

A model of the configured size (``ml.*``, fresh weights; the speed does not
depend on them) runs on ``--crystals`` real hydrides of the offline seed file
(``MATFORGE_SHARED_DATA``): one score-network call at a middle noise level,
as sampling makes it 50 times per crystal, and one training step (every loss,
backward), as training makes it. Each is timed ``--repeats`` times eagerly,
then with the message-passing blocks compiled (``ml.compile``,
:func:`matforge.ml.runtime.compiled_blocks`). Printed: the milliseconds per
call of each, the speed-up, the seconds the compiling took, and the largest
difference between the two runs' scores, type logits and gradients (float
rounding only: the same computation). No store is read or written; nothing
is asserted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from pathlib import Path


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crystals", type=int, default=16, help="crystals per call")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args()


def _graphs(folder: Path, count: int, max_atoms: int):
    from pymatgen.core import Structure

    from matforge.ml.data import structure_to_data

    with gzip.open(folder / "hydrides_seed.json.gz", "rt") as handle:
        records = json.load(handle)
    graphs = []
    for record in records:
        structure = Structure.from_dict(record["structure"])
        if len(structure) <= max_atoms:
            graphs.append(structure_to_data(structure, 0.0))
        if len(graphs) == count:
            break
    return graphs


def _timed(function, repeats: int) -> tuple[float, object]:
    """Return the median milliseconds of ``repeats`` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), result


def main() -> None:
    import torch
    from torch_geometric.data import Batch

    from matforge.flows.generator import build_model
    from matforge.ml.runtime import compiled_blocks
    from matforge.settings import load_settings

    args = _arguments()
    settings = load_settings()
    torch.set_num_threads(args.threads)
    graphs = _graphs(settings.shared_data_dir(), args.crystals, settings.ml.max_atoms)
    batch = Batch.from_data_list(graphs)
    torch.manual_seed(0)
    model = build_model(settings.ml)
    sigma = model.sigmas[len(model.sigmas) // 2]
    z = torch.randn(
        len(graphs), model.latent_dim, generator=torch.Generator().manual_seed(0)
    )
    score_inputs = (
        z,
        batch.atom_types,
        batch.frac_coords,
        batch.lattice,
        batch.num_atoms,
        batch.batch,
        sigma.expand(batch.num_nodes),
    )

    def score():
        with torch.no_grad():
            return model.score(*score_inputs)

    def step():
        model.train()
        model.zero_grad()
        losses = model.loss(batch, torch.Generator().manual_seed(1))
        losses["loss"].backward()
        model.eval()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    model.eval()
    print(
        f"{len(graphs)} hydrides, {batch.num_nodes} atoms; width "
        f"{settings.ml.hidden_dim}, {settings.ml.num_layers} blocks "
        f"({settings.ml.decoder}), cutoff "
        f"{settings.ml.cutoff} A, {settings.ml.max_neighbors} neighbours; "
        f"{args.threads} thread(s), torch {torch.__version__}"
    )
    score(), step()  # warm-up
    eager_score_ms, eager_out = _timed(score, args.repeats)
    eager_step_ms, eager_grads = _timed(step, args.repeats)
    with compiled_blocks(model.message_blocks(), True, training=True) as compiled:
        start = time.perf_counter()
        score()
        score_compile_s = time.perf_counter() - start
        start = time.perf_counter()
        step()
        step_compile_s = time.perf_counter() - start
        score_ms, out = _timed(score, args.repeats)
        step_ms, grads = _timed(step, args.repeats)
    figures = {
        "compiled": compiled,
        "eager_score_ms": eager_score_ms,
        "compiled_score_ms": score_ms,
        "score_speedup": eager_score_ms / score_ms,
        "eager_step_ms": eager_step_ms,
        "compiled_step_ms": step_ms,
        "step_speedup": eager_step_ms / step_ms,
        "compile_s_inference": score_compile_s,
        "compile_s_training": step_compile_s,
        "max_score_difference": float((out[0] - eager_out[0]).abs().max()),
        "max_score": float(eager_out[0].abs().max()),
        "max_logit_difference": float((out[1] - eager_out[1]).abs().max()),
        "max_relative_gradient_difference": max(
            float((g - e).abs().max() / (e.abs().max() + 1e-12))
            for g, e in zip(grads, eager_grads, strict=True)
        ),
    }
    print(f"compiled: {compiled}")
    print(
        f"score-network call: eager {eager_score_ms:.1f} ms, "
        f"compiled {score_ms:.1f} ms "
        f"({figures['score_speedup']:.2f}x; compiling took {score_compile_s:.1f} s)"
    )
    print(
        f"training step:      eager {eager_step_ms:.1f} ms, compiled {step_ms:.1f} ms "
        f"({figures['step_speedup']:.2f}x; compiling took {step_compile_s:.1f} s)"
    )
    print(
        f"largest difference: score {figures['max_score_difference']:.2e} (of "
        f"{figures['max_score']:.2f}), type logits "
        f"{figures['max_logit_difference']:.2e}, "
        f"gradients {figures['max_relative_gradient_difference']:.2e} (relative)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
