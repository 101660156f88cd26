import json
import os
import uuid

import pytest
import torch
from click.testing import CliRunner

from matforge.cli import cli
from matforge.flows.generator import load_model
from matforge.settings import load_settings
from matforge.stores import StoreFactory
from matforge.stores.models import model_history

TINY_ENV = {
    "MATFORGE_ML__HIDDEN_DIM": "8",
    "MATFORGE_ML__LATENT_DIM": "4",
    "MATFORGE_ML__NUM_LAYERS": "1",
    "MATFORGE_ML__NUM_NOISE_LEVELS": "3",
    "MATFORGE_ML__QUICK_EPOCHS": "2",
    "MATFORGE_ML__SAMPLE_BATCH_SIZE": "4",
    "MATFORGE_ML__STEPS_PER_LEVEL": "1",
    "MATFORGE_ML__GUIDE_STEPS": "5",
}


@pytest.fixture
def store_with_hydrides(shared_data, monkeypatch):
    uri = f"memory://{uuid.uuid4().hex}"
    monkeypatch.setenv("MATFORGE_STORE__URI", uri)
    for key, value in TINY_ENV.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(cli, ["ingest", "offline", "--json"])
    assert result.exit_code == 0, result.output
    return uri


def test_train_and_generate_through_the_store(store_with_hydrides):
    runner = CliRunner()
    trained = runner.invoke(cli, ["train", "--quick", "--json"])
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.output)
    assert summary["epochs_run"] == 2
    sizes = summary["split_sizes"]
    assert sizes["train"] > sizes["val"] > 0

    with StoreFactory(load_settings()) as factory:
        doc, model = load_model(factory)
        assert doc.model_id == summary["model_id"]
        assert doc.config["hidden_dim"] == 8
        history = model_history(factory, doc)
        assert len(history["history"]) == 2
        assert history["split"] == doc.split
        # the stored checkpoint rebuilds the same weights
        again = type(model).from_bytes(model.to_bytes())
        for key, value in model.state_dict().items():
            assert torch.equal(again.state_dict()[key], value)

    generated = runner.invoke(cli, ["generate", "-n", "5", "--seed", "3", "--json"])
    assert generated.exit_code == 0, generated.output
    candidates = json.loads(generated.output)
    assert len(candidates) == 5
    assert set(candidates[0]) == {"id", "formula", "structure", "cif"}
    assert candidates[0]["cif"].startswith("# generated using pymatgen")

    # the same seed gives the same candidates and stores nothing twice
    again = runner.invoke(cli, ["generate", "-n", "5", "--seed", "3", "--json"])
    assert json.loads(again.output) == candidates
    with StoreFactory(load_settings()) as factory:
        assert factory.store("generated").count() == 5
        stored = factory.store("generated").query_one(
            {"generated_id": candidates[0]["id"]}
        )
        assert stored["seed"] == 3
        assert stored["model_id"] == summary["model_id"]
        assert len(stored["z"]) == 4

    guided = runner.invoke(cli, ["generate", "-n", "4", "--guided"])
    assert guided.exit_code == 0, guided.output
    assert "guided" in guided.output


def test_generate_without_a_model_says_so(store_with_hydrides):
    result = CliRunner().invoke(cli, ["generate", "-n", "2"])
    assert result.exit_code != 0
    assert "matforge train" in result.output


def test_hull_limit_leaves_out_the_crystals_above_it(store_with_hydrides, monkeypatch):
    with StoreFactory(load_settings()) as factory:
        hydrides = list(
            factory.store("hydrides").query(
                properties=["material_id", "e_above_hull", "nsites"]
            )
        )
    known = sorted(
        d["e_above_hull"] for d in hydrides if d.get("e_above_hull") is not None
    )
    assert len(known) > 6
    limit = known[len(known) // 2]
    above = {
        d["material_id"]
        for d in hydrides
        if d.get("e_above_hull") is not None and d["e_above_hull"] > limit
    }
    wanted = {d["material_id"] for d in hydrides if d.get("nsites", 0) <= 20} - above
    assert above
    assert wanted
    monkeypatch.setenv("MATFORGE_ML__MAX_E_ABOVE_HULL", str(limit))
    result = CliRunner().invoke(cli, ["train", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    with StoreFactory(load_settings()) as factory:
        doc, _ = load_model(factory)
    trained_on = {i for ids in doc.split.values() for i in ids}
    assert trained_on == wanted
    assert doc.training["max_e_above_hull"] == limit
    assert doc.training["hydrides_split"] == len(wanted)


def test_hull_limit_that_leaves_too_few_crystals_names_the_setting(monkeypatch):
    from matforge.errors import DataNotFoundError
    from matforge.flows.generator import load_hydride_graphs

    monkeypatch.setenv("MATFORGE_STORE__URI", f"memory://{uuid.uuid4().hex}")
    with StoreFactory(load_settings()) as factory:
        factory.store("hydrides").update(
            [
                {"material_id": f"mp-{i}", "nsites": 2, "e_above_hull": e}
                for i, e in enumerate([0.3, 0.5, float("nan"), 0.01])
            ],
            key="material_id",
        )
        with pytest.raises(DataNotFoundError, match=r"ml\.max_e_above_hull"):
            load_hydride_graphs(factory, 20, max_e_above_hull=0.1)


def test_generate_metrics_are_printed_and_stored(store_with_hydrides):
    runner = CliRunner()
    assert runner.invoke(cli, ["train", "--quick"]).exit_code == 0
    result = runner.invoke(cli, ["generate", "-n", "4", "--metrics", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert len(payload["candidates"]) == 4
    table = payload["metrics"]
    for key in ("recon_match_rate", "structural_validity", "compositional_validity"):
        assert 0 <= table[key] <= 1
    with StoreFactory(load_settings()) as factory:
        doc, _ = load_model(factory)
        assert doc.metrics["unguided"]["num_generated"] == 4
        assert set(doc.diagnostics["reconstruction"]) == {"train", "test"}
    # the text output shows the stored diagnostics as a table, not a dict
    text = runner.invoke(cli, ["generate", "-n", "4", "--metrics"])
    assert text.exit_code == 0, text.output
    assert "coverage ceiling (train vs test)" in text.output
    assert "'reconstruction'" not in text.output
    lines = text.output.splitlines()
    for split in ("train", "test"):
        for mode in ("predicted", "forced"):
            assert any(line.split()[:2] == [split, mode] for line in lines)


def _mp20_sample(shared_data, folder, rows=4):
    """A few rows of each MP-20 sample file the pre-training reads."""
    import csv

    csv.field_size_limit(2**31 - 1)
    folder.mkdir()
    for name in ("train.csv", "val.csv"):
        with (shared_data / "mp20_sample" / name).open(newline="") as handle:
            reader = csv.reader(handle)
            kept = [next(reader) for _ in range(rows + 1)]
        with (folder / name).open("w", newline="") as handle:
            csv.writer(handle).writerows(kept)
    return folder


def test_pretraining_then_fine_tuning_is_recorded(
    store_with_hydrides, shared_data, tmp_path
):
    from matforge.flows.generator import train_generator

    folder = _mp20_sample(shared_data, tmp_path / "mp20")
    settings = load_settings().ml.model_copy(update={"pretrain_epochs": 1})
    pre_epochs = []
    with StoreFactory(load_settings()) as factory:
        doc = train_generator(
            factory,
            settings,
            epochs=1,
            pretrain_dir=folder,
            pretrain_progress=lambda epoch, _row: pre_epochs.append(epoch),
        )
        history = model_history(factory, doc)
    assert pre_epochs == [0]
    pre = doc.training["pretraining"]
    assert pre["epochs_run"] == 1
    assert pre["sizes"] == {"train": 4, "val": 4}
    assert str(folder / "train.csv") in doc.build.inputs
    assert len(history["pretrain_history"]) == 1
    assert doc.training["epochs_run"] == 1
    # one epoch each is far below what ml.compile auto compiles: both eager
    assert pre["compiled"] is False
    assert doc.training["compiled"] is False
    # ml.threads 0 (the default) trains on every core and records their count
    assert settings.threads == 0
    assert pre["threads"] == doc.training["threads"] == len(os.sched_getaffinity(0))
    # fine-tuning fitted the vocabulary on the hydrides: hydrogen is in it
    assert 1 in doc.normalisers["elements"]
