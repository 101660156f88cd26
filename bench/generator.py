"""Train the default generator on the store's hydrides and print its figures.

Usage: ``python bench/generator.py [--epochs N] [--samples 1000]
[--no-pretrain]`` with the store chosen by the usual settings
(``MATFORGE_HOME``, ``MATFORGE_STORE__URI``); run ``matforge ingest offline``
first. Prints the MP-20 pre-training time, the fine-tuning time, sampling
time, peak memory and the metrics table beside CDVAE's published MP-20
figures. The ``composition only`` rows give the compositional validity of the
same latents decoded without the charge-balance rule (the most probable
composition, and CDVAE's per-atom draw), so the rule's share is visible.
Figures only; nothing is asserted; timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time

import torch
from tqdm import tqdm

from matforge.flows.generator import (
    evaluate_generator,
    generate_candidates,
    load_model,
    train_generator,
)
from matforge.ml.composition import decode_composition
from matforge.ml.metrics import CDVAE_MP20, compositional_validity
from matforge.ml.model import CrystalDiffusionVAE
from matforge.schemas.generator import GeneratedDoc
from matforge.settings import load_settings
from matforge.stores import StoreFactory

GOALS = {
    "structural_validity": 0.95,
    "compositional_validity": 0.80,
    "uniqueness": 0.90,
    "novelty": 0.80,
}
ROWS = (
    "recon_match_rate",
    "recon_rmse",
    "structural_validity",
    "compositional_validity",
    "comp_validity_mode_no_rule",
    "comp_validity_cdvae_draw",
    "validity",
    "uniqueness",
    "novelty",
    "cov_r",
    "cov_p",
    "wdist_density",
    "wdist_num_elements",
    "mean_predicted_storage_score",
)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _composition_only_validity(
    model: CrystalDiffusionVAE, docs: list[GeneratedDoc], temperature: float
) -> dict[str, float]:
    """Compositional validity of the docs' latents decoded without the rule."""
    from pymatgen.core import Composition

    generator = torch.Generator().manual_seed(0)
    z = torch.tensor([d.z for d in docs])
    with torch.no_grad():
        heads = model.heads(z)
        logits = heads.composition_logits / temperature
        logits = logits.masked_fill(model.element_mask <= 0, -math.inf)
        probs = torch.softmax(logits, -1)
        count_logits = heads.num_atoms_logits.clone()
        count_logits[:, 0] = -math.inf
        counts = torch.softmax(count_logits.double(), -1)
    mode_ok, draw_ok = 0, 0
    for p, q in zip(probs, counts, strict=True):
        n, comp = decode_composition(p, q, balanced=False)
        mode_ok += compositional_validity(Composition(comp))
        drawn = torch.multinomial(p, n, replacement=True, generator=generator) + 1
        drawn_counts = torch.bincount(drawn).tolist()
        draw_ok += compositional_validity(
            Composition({z: c for z, c in enumerate(drawn_counts) if c})
        )
    return {
        "comp_validity_mode_no_rule": mode_ok / len(docs),
        "comp_validity_cdvae_draw": draw_ok / len(docs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-fingerprints", type=int, default=500)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-pretrain", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    settings = load_settings()
    pretrain_dir = None
    if not args.no_pretrain and settings.ml.pretrain_epochs > 0:
        pretrain_dir = settings.shared_data_dir() / "mp20_sample"
    with StoreFactory(settings) as factory:
        n_hydrides = factory.store("hydrides").count()
        print(f"store: {factory.location}, {n_hydrides} hydrides")
        epochs = args.epochs or settings.ml.epochs
        pre_bar = tqdm(
            total=settings.ml.pretrain_epochs if pretrain_dir else 0,
            desc="pre-train",
            file=sys.stderr,
        )
        bar = tqdm(total=epochs, desc="train", file=sys.stderr)
        start = time.perf_counter()
        doc = train_generator(
            factory,
            settings.ml,
            epochs=args.epochs,
            device=args.device,
            progress=lambda _e, _r: bar.update(1),
            pretrain_dir=pretrain_dir,
            pretrain_progress=lambda _e, _r: pre_bar.update(1),
        )
        train_s = time.perf_counter() - start
        bar.close()
        pre_bar.close()
        pre = doc.training.get("pretraining")
        if pre:
            print(
                f"pre-training on MP-20 sample {pre['sizes']}: reading "
                f"{pre['read_seconds']:.0f} s, {pre['epochs_run']} epochs (best "
                f"{pre['best_epoch']}) in {pre['seconds'] / 60:.1f} min"
            )
        print(
            f"model {doc.model_id}: split {doc.split_sizes}, fine-tuning "
            f"{doc.training['epochs_run']} epochs (best "
            f"{doc.training['best_epoch']}) in {doc.training['seconds'] / 60:.1f} "
            f"min; training in all {train_s / 60:.1f} min (goal <= 20 min)"
        )
        _, model = load_model(factory, doc.model_id)
        tables = {}
        for guided in (False, True):
            label = "guided" if guided else "unguided"
            bar = tqdm(total=args.samples, desc=f"sample {label}", file=sys.stderr)
            start = time.perf_counter()
            docs = generate_candidates(
                factory,
                settings.ml,
                args.samples,
                model_id=doc.model_id,
                seed=args.seed,
                guided=guided,
                device=args.device,
                progress=bar.update,
            )
            sample_s = time.perf_counter() - start
            bar.close()
            print(
                f"sampling {args.samples} {label}: {sample_s / 60:.1f} min "
                "(goal <= 10 min)"
            )
            start = time.perf_counter()
            tables[label] = evaluate_generator(
                factory,
                docs,
                settings.ml,
                device=args.device,
                max_fingerprints=args.max_fingerprints,
            )
            tables[label].update(
                _composition_only_validity(
                    model, docs, settings.ml.composition_temperature
                )
            )
            print(f"metrics {label}: {time.perf_counter() - start:.0f} s")
    print(f"peak memory (max RSS): {_peak_mib():.0f} MiB")
    print()
    header = f"{'metric':30s} {'unguided':>9s} {'guided':>9s} {'CDVAE MP-20':>12s} goal"
    print(header)
    print("-" * len(header))
    for row in ROWS:
        goal = GOALS.get(row)
        print(
            f"{row:30s} {_fmt(tables['unguided'].get(row)):>9s} "
            f"{_fmt(tables['guided'].get(row)):>9s} "
            f"{_fmt(CDVAE_MP20.get(row)):>12s} "
            f"{'>= ' + _fmt(goal) if goal else ''}"
        )


if __name__ == "__main__":
    main()
