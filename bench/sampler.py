"""One trained generator, sampled with each coordinate sampler: what each gives.

    python bench/sampler.py [--model ID] [--samplers langevin ancestral]
                            [--steps 1] [--samples 300] [--diagnostics]
                            [--relax 100] [--seed 0] [--json FILE]

with the store chosen by the usual settings (``MATFORGE_HOME``); the model is
the latest unless ``--model`` names one. No training: the same weights and
the same latents (``--seed``) are decoded by every sampler of ``--samplers``
(``ml.sampler``) at ``--steps`` steps per noise level, the other sampling
settings being ``ml.*``'s. Printed per sampler:

- the time to decode ``--samples`` crystals (compiled as ``ml.compile``
  decides, its compile time included) and CDVAE's metrics of them
  against the model's test split (validity, uniqueness, novelty, COV-R /
  COV-P with the fixed MP-20 scaler), the share with a space group above P1
  (symprec 0.1) and of cells of at most three atoms;
- with ``--diagnostics``, reconstruction of the training and test crystals
  with predicted and with forced composition (the diagnostics of
  ``matforge generate --metrics``, not stored);
- with ``--relax K``, the first K crystals relaxed and judged as a campaign
  does them (``bench/split_validity.py``): the share invalid after
  relaxation, for energy alone, and the median relaxation steps.

Figures only; nothing is asserted. Writes only priced phases and the
elemental references' cache to the store.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model id (default: the latest)")
    parser.add_argument(
        "--samplers", nargs="+", default=["langevin", "ancestral"], metavar="NAME"
    )
    parser.add_argument("--steps", type=int, default=None, help="steps per level")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--diagnostics", action="store_true")
    parser.add_argument("--relax", type=int, default=0, metavar="K")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args()


def _symmetric_share(structures) -> float:
    """Share of crystals with a space group above P1 (symprec 0.1)."""
    from matforge.core.features import analyse_symmetry

    numbers = [analyse_symmetry(s, 0.1).number or 1 for s in structures]
    return sum(n > 1 for n in numbers) / max(len(numbers), 1)


def main() -> int:
    args = _arguments()
    from generator_latents import METRICS
    from matforge.flows.generator import (
        crystal_steps,
        diagnostic_crystal_steps,
        generator_runtime,
        load_model,
        sampling_settings,
        split_crystals,
    )
    from matforge.ml.diagnostics import generator_diagnostics
    from matforge.ml.metrics import generation_metrics
    from matforge.ml.sample import sample_crystals
    from matforge.settings import load_settings
    from matforge.stores import StoreFactory
    from split_validity import judge_crystals

    settings = load_settings()
    base = sampling_settings(settings.ml)
    steps = args.steps or base.steps_per_level
    figures: dict = {"samples": args.samples, "steps_per_level": steps, "runs": {}}
    with StoreFactory(settings) as factory:
        doc, model = load_model(factory, args.model)
        parts = split_crystals(factory, doc)
        figures["model_id"] = doc.model_id
        print(
            f"model {doc.model_id}: {args.samples} crystals per sampler, "
            f"{steps} step(s) per level, seed {args.seed}"
        )
        for name in args.samplers:
            sampling = dataclasses.replace(base, sampler=name, steps_per_level=steps)
            started = time.perf_counter()
            work = crystal_steps(settings.ml, args.samples, steps)
            with generator_runtime(settings.ml, model, work):
                samples = sample_crystals(model, args.samples, args.seed, sampling)
            seconds = time.perf_counter() - started
            crystals = [s.structure for s in samples]
            run = generation_metrics(crystals, parts["test"][1], parts["train"][1])
            run = {m: run[m] for m in METRICS}
            run["sample_seconds"] = seconds
            run["above_p1"] = _symmetric_share(crystals)
            run["small_cells"] = sum(len(c) <= 3 for c in crystals) / len(crystals)
            print(
                f"\n{name}: {seconds:.0f} s to decode; "
                + ", ".join(f"{m} {run[m]:.3f}" for m in METRICS)
                + f"; above P1 {run['above_p1']:.3f}, cells of <= 3 atoms "
                f"{run['small_cells']:.3f}"
            )
            if args.diagnostics:
                work = diagnostic_crystal_steps(
                    settings.ml, len(parts["train"][0]), len(parts["test"][0]), steps
                )
                with generator_runtime(settings.ml, model, work):
                    found = generator_diagnostics(
                        model,
                        parts["train"],
                        parts["test"],
                        args.seed,
                        sampling,
                        max_train=settings.ml.diagnostic_crystals,
                    )
                recon = found["reconstruction"]
                run["reconstruction"] = {
                    split: {
                        way: recon[split][way]["match_rate"]
                        for way in ("predicted", "forced")
                    }
                    for split in ("train", "test")
                }
                print(
                    "  reconstruction (predicted / forced): "
                    + "; ".join(
                        f"{split} {r['predicted']:.3f} / {r['forced']:.3f}"
                        for split, r in run["reconstruction"].items()
                    )
                )
            if args.relax:
                chosen = crystals[: args.relax]
                ids = [f"{name}-{k}" for k in range(len(chosen))]
                judged = judge_crystals(factory, settings, chosen, ids)
                run["relaxed"] = {k: v for k, v in judged.items() if k != "crystals"}
            figures["runs"][name] = run
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
