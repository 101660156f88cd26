"""Where a trained generator's latents decode well: the prior against its data.

    python bench/generator_latents.py [--model ID] [--samples 300]
                                      [--spreads 1 2] [--metrics] [--seed 0]

with the store chosen by the usual settings (``MATFORGE_HOME``). For each
source of latents, the generator's heads are read (no Langevin dynamics):

- ``training``: the posterior means of the training split's crystals;
- ``prior``: draws from N(0, I), what CDVAE and ``matforge generate`` sample;
- ``posterior xK``: the aggregate posterior widened K times, a training
  crystal drawn at random and z = mu + K sigma eps about its posterior.

Printed per source: the composition head's mean entropy (nats), the share
of crystals by number of elements and of cells of at most three atoms once
the composition is decoded (``ml.composition``), against the training
crystals' own shares. A prior whose latents decode to blurred compositions,
far from those of the training latents, lies where the encoder put no
crystal. With ``--metrics``, the crystals of the prior and of each widened
posterior are also decoded (``--samples`` of each) and CDVAE's metrics
printed: validity, uniqueness, novelty, COV-R / COV-P against the test
split. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import math
import time

import torch

from matforge.flows.generator import load_model, sampling_settings, split_crystals
from matforge.ml.metrics import generation_metrics
from matforge.ml.sample import crystal_generator, head_compositions, langevin_decode
from matforge.settings import load_settings
from matforge.stores import StoreFactory

METRICS = (
    "structural_validity",
    "compositional_validity",
    "uniqueness",
    "novelty",
    "cov_r",
    "cov_p",
    "wdist_num_elements",
)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model id (default: the latest)")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--spreads", type=float, nargs="*", default=[1.0, 2.0])
    parser.add_argument("--metrics", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def _head_figures(model, z, settings, seed: int) -> dict[str, float]:
    """Composition entropy, elements per crystal and small-cell share of latents."""
    with torch.no_grad():
        heads = model.heads(z)
        logits = (
            heads.composition_logits / settings.composition_temperature
        ).masked_fill(model.element_mask <= 0, -math.inf)
        p = torch.softmax(logits, dim=-1)
        entropy = -(torch.where(p > 0, p * p.log(), torch.zeros_like(p))).sum(-1)
        generators = [crystal_generator(seed, i) for i in range(len(z))]
        counts, types = head_compositions(model, z, generators, settings, heads=heads)
    elements = collections.Counter(min(len(set(t.tolist())), 5) for t in types)
    n = len(types)
    return {
        "entropy": float(entropy.mean()),
        **{f"el{k}": elements[k] / n for k in range(1, 6)},
        "small": sum(c <= 3 for c in counts) / n,
    }


def main() -> None:
    args = _arguments()
    torch.set_num_threads(1)
    settings = load_settings()
    with StoreFactory(settings) as factory:
        doc, model = load_model(factory, args.model)
        parts = split_crystals(factory, doc)
    sampling = sampling_settings(settings.ml)
    graphs, train_structures = parts["train"]
    from torch_geometric.data import Batch

    batch = Batch.from_data_list(graphs)
    with torch.no_grad():
        mu, logvar = model.encode_batch(batch)
    sd = torch.exp(0.5 * logvar)
    rng = torch.Generator().manual_seed(args.seed)
    sources = {"prior": torch.randn(args.samples, mu.shape[1], generator=rng)}
    for k in args.spreads:
        pick = torch.randint(0, len(mu), (args.samples,), generator=rng)
        noise = torch.randn(args.samples, mu.shape[1], generator=rng)
        sources[f"posterior x{k:g}"] = mu[pick] + k * sd[pick] * noise
    print(
        f"model {doc.model_id}: latent {mu.shape[1]}, {len(mu)} training crystals; "
        f"posterior sigma mean {float(sd.mean()):.3f}, spread of the means "
        f"{float(mu.std(0).mean()):.3f} per dimension"
    )
    data = collections.Counter(min(len(s.composition), 5) for s in train_structures)
    print(
        "training crystals themselves: elements 1-5+ "
        + " ".join(f"{data[k] / len(train_structures):.3f}" for k in range(1, 6))
        + f", cells of <= 3 atoms "
        f"{sum(len(s) <= 3 for s in train_structures) / len(train_structures):.3f}"
    )
    header = f"{'latents':<16}{'entropy':>8}" + "".join(
        f"{f'el {k}':>7}" for k in ("1", "2", "3", "4", "5+")
    )
    print(header + f"{'<=3 at':>8}")
    print("-" * (len(header) + 8))
    for name, z in {"training": mu, **sources}.items():
        f = _head_figures(model, z, sampling, args.seed)
        print(
            f"{name:<16}{f['entropy']:>8.3f}"
            + "".join(f"{f[f'el{k}']:>7.3f}" for k in range(1, 6))
            + f"{f['small']:>8.3f}"
        )
    if not args.metrics:
        return
    print()
    print(f"{'latents':<16}" + "".join(f"{m[:12]:>13}" for m in METRICS) + "  min")
    for name, z in sources.items():
        started = time.perf_counter()
        generators = [crystal_generator(args.seed, i) for i in range(len(z))]
        crystals = []
        for a in range(0, len(z), sampling.batch_size):
            b = a + sampling.batch_size
            crystals += langevin_decode(model, z[a:b], generators[a:b], sampling)
        figures = generation_metrics(crystals, parts["test"][1], train_structures)
        print(
            f"{name:<16}"
            + "".join(f"{figures[m]:>13.3f}" for m in METRICS)
            + f"  {(time.perf_counter() - started) / 60:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
