"""``matforge train`` and ``matforge generate``: the crystal generator."""

from __future__ import annotations

from typing import Any

import click

from matforge.cli.common import (
    echo_json,
    open_factory,
    progress_bar,
    settings_of,
    text_table,
)


@click.command()
@click.option("--quick", is_flag=True, help="A few epochs only (a smoke run).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Most epochs.")
@click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True
)
@click.option(
    "--no-pretrain",
    is_flag=True,
    help="Skip pre-training on the MP-20 sample (--quick skips it too).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the model as JSON.")
@click.pass_context
def train(
    ctx: click.Context,
    quick: bool,
    epochs: int | None,
    device: str,
    no_pretrain: bool,
    as_json: bool,
) -> None:
    """Pre-train on the MP-20 sample, then train on the hydrides collection."""
    from matforge.flows.generator import pretrain_folder, train_generator

    all_settings = settings_of(ctx)
    settings = all_settings.ml
    if epochs is None and quick:
        epochs = settings.quick_epochs
    total = epochs or settings.epochs
    pretrain_dir = pretrain_folder(all_settings, skip=quick or no_pretrain)
    with (
        open_factory(ctx) as factory,
        progress_bar(
            settings.pretrain_epochs if pretrain_dir else 0, "pre-train"
        ) as pre_update,
        progress_bar(total, "train") as update,
    ):
        doc = train_generator(
            factory,
            settings,
            epochs=epochs,
            device=device,
            progress=lambda _epoch, _row: update(1),
            pretrain_dir=pretrain_dir,
            pretrain_progress=lambda _epoch, _row: pre_update(1),
        )
    summary = {
        "model_id": doc.model_id,
        "split_sizes": doc.split_sizes,
        **{k: v for k, v in doc.training.items() if k != "final"},
    }
    if as_json:
        echo_json(summary)
    else:
        t = doc.training
        click.echo(
            f"model {doc.model_id}: {t['epochs_run']} epochs in {t['seconds']:.1f} s, "
            f"best validation loss {t['best_val_loss']:.4f} at epoch "
            f"{t['best_epoch']} (split {doc.split_sizes})"
        )


@click.command()
@click.option(
    "-n", "num_samples", type=click.IntRange(min=1), default=1000, show_default=True
)
@click.option("--model", "model_id", default=None, help="Model id (default: latest).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--guided", is_flag=True, help="Steer z towards a high storage score.")
@click.option("--metrics", is_flag=True, help="Also compute and store the metrics.")
@click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print candidates as JSON.")
@click.pass_context
def generate(
    ctx: click.Context,
    num_samples: int,
    model_id: str | None,
    seed: int,
    guided: bool,
    metrics: bool,
    device: str,
    as_json: bool,
) -> None:
    """Sample candidate crystals from the generator into the generated collection."""
    from matforge.flows.generator import evaluate_generator, generate_candidates

    settings = settings_of(ctx).ml
    with open_factory(ctx) as factory:
        with progress_bar(num_samples, "generate") as update:
            docs = generate_candidates(
                factory,
                settings,
                num_samples,
                model_id=model_id,
                seed=seed,
                guided=guided,
                device=device,
                progress=update,
            )
        table = None
        if metrics:
            table = evaluate_generator(factory, docs, settings, device=device)
    if as_json:
        payload: Any = [
            {
                "id": d.generated_id,
                "formula": d.formula,
                "structure": d.structure.as_dict(),
                "cif": d.cif,
            }
            for d in docs
        ]
        if table is not None:
            payload = {"candidates": payload, "metrics": table}
        echo_json(payload)
        return
    mean_score = sum(d.predicted_storage_score for d in docs) / len(docs)
    click.echo(
        f"generated {len(docs)} candidates with model {docs[0].model_id} "
        f"(seed {seed}{', guided' if guided else ''}); mean predicted storage "
        f"score {mean_score:.4f}"
    )
    if table is not None:
        rows = [
            {"metric": k, "value": v} for k, v in table.items() if k != "diagnostics"
        ]
        click.echo(text_table(rows, ["metric", "value"]))
        if table.get("diagnostics"):
            click.echo()
            click.echo(diagnostics_text(table["diagnostics"]))


_DIAGNOSTIC_COLUMNS = {
    "match_rate": "match",
    "match_rate_any": "match any",
    "rmse": "rmse",
    "valid": "valid",
    "num_atoms_accuracy": "N ok",
    "composition_accuracy": "comp ok",
    "crystals": "crystals",
}


def diagnostics_text(found: dict[str, Any]) -> str:
    """Return a model's stored diagnostics as text: reconstruction and ceiling.

    One row per split and mode (``predicted``: the heads' atom count and
    composition; ``forced``: the true ones), then the train-vs-test coverage
    ceiling and both splits' SMACT rates.
    """
    rows = [
        {"split": split, "mode": mode}
        | {head: row.get(key) for key, head in _DIAGNOSTIC_COLUMNS.items()}
        for split, modes in found["reconstruction"].items()
        for mode, row in modes.items()
    ]
    ceiling, smact = found["ceiling"], found["smact"]
    last = (
        f"coverage ceiling (train vs test): COV-R {ceiling['cov_r']:.4f}, "
        f"COV-P {ceiling['cov_p']:.4f}; SMACT rate train "
        f"{smact['train']:.4f}, test {smact['test']:.4f}"
    )
    table = text_table(rows, ["split", "mode", *_DIAGNOSTIC_COLUMNS.values()])
    return f"reconstruction (CDVAE's match of valid predictions):\n{table}\n{last}"
