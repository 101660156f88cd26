"""The amorphous collections: table upserts, model weights, MD artefacts."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from ase.calculators.lj import LennardJones

from matforge.amorphous.documents import md_document, model_document
from matforge.amorphous.features import dataset
from matforge.amorphous.forest import ForestPredictor
from matforge.amorphous.meltquench import MeltQuenchSettings, run_melt_quench
from matforge.amorphous.train import train_model
from matforge.data.amorphous import read_shared_table
from matforge.errors import DataNotFoundError
from matforge.settings import MatforgeSettings
from matforge.stores import StoreFactory
from matforge.stores.amorphous import (
    amorphous_models,
    load_model,
    load_table,
    save_md,
    save_model,
    table_volumes,
    write_table,
)
from matforge.stores.artefacts import get_bytes


@pytest.fixture
def factory(memory_settings: MatforgeSettings) -> StoreFactory:
    return StoreFactory(memory_settings)


def test_table_round_trip_and_rerun(factory: StoreFactory, shared_data: Path) -> None:
    with pytest.raises(DataNotFoundError, match="amorphous ingest"):
        load_table(factory)
    read = read_shared_table(shared_data)
    first = write_table(factory, read.docs, read.rejects)
    assert first.as_dict()["ingested"] == 789
    assert len(first.rejected) == 3
    again_read = read_shared_table(shared_data)
    again = write_table(factory, again_read.docs, again_read.rejects)
    assert again.as_dict()["unchanged"] == 789
    assert again.as_dict()["ingested"] == 0
    rows = load_table(factory)
    assert [r["row"] for r in rows] == sorted(r["row"] for r in rows)
    assert factory.store("rejects").count({"source": "amorphous"}) == 3
    volumes = table_volumes(factory, "NLi3")
    assert sorted(volumes) == [1000.0, 1500.0, 2000.0, 2500.0]
    assert volumes[1000.0] == pytest.approx(11.623, abs=1e-3)

    data = dataset(rows)
    trained = train_model(
        data, "random_forest", "D", cv=False, params={"n_estimators": 5}
    )
    model_id = save_model(factory, model_document(trained, data), trained.weights)
    doc, weights = load_model(factory, model_id)
    assert doc["weights_blob"] == f"{model_id}-weights"
    assert doc["metrics"]["n_test"] == trained.n_test
    rebuilt = ForestPredictor.from_bytes(weights)
    np.testing.assert_allclose(
        rebuilt.predict(data.x[:10]), trained.predict(data.x[:10])
    )
    assert [m["model_id"] for m in amorphous_models(factory)] == [model_id]


def test_md_summary_and_trajectories(factory: StoreFactory) -> None:
    settings = MeltQuenchSettings(
        target_atoms=8,
        melt_steps=10,
        quench_step=1000.0,
        quench_steps=5,
        equilibration_steps=5,
        production_steps=30,
        traj_interval=2,
        n_blocks=3,
    )
    calc = LennardJones(sigma=2.0, epsilon=0.05, rc=5.0, smooth=True)
    result = run_melt_quench("Li2O", calc, [1500, 1000], 15.0, settings)
    doc = md_document(result, "lennard-jones", "ase test potential")
    assert doc.fits[0].diffusivity_cm2_s == pytest.approx(
        result.runs[0].fit.diffusivity * 1e-4
    )
    assert len(doc.model_dump_json()) < 100_000  # no trajectory inside
    md_id = save_md(
        factory, doc, [r.to_npz() for r in result.runs], result.quenched.as_dict()
    )
    stored = factory.store("amorphous_md").query_one({"md_id": md_id})
    key = stored["fits"][1]["trajectory_blob"]
    with np.load(io.BytesIO(get_bytes(factory.data_store(), key))) as data:
        assert data["li_positions"].shape == result.runs[1].li_positions.shape
    assert stored["quench_structure_blob"] == f"{md_id}-quenched"
    # fitted at the temperatures the atoms had (8 atoms, 30 steps: far off)
    had = [r.mean_temperature for r in result.runs]
    assert stored["arrhenius"]["temperatures"] == pytest.approx(had)
    assert [f["temperature"] for f in stored["fits"]] == [1500.0, 1000.0]


def test_a_model_scored_again_replaces_its_document(
    factory: StoreFactory, shared_data: Path
) -> None:
    read = read_shared_table(shared_data)
    write_table(factory, read.docs, read.rejects)
    data = dataset(load_table(factory))
    params = {"n_estimators": 3}
    plain = train_model(data, "random_forest", "D", cv=False, params=params)
    scored = train_model(data, "random_forest", "D", cv=True, params=params)
    first = save_model(factory, model_document(plain, data), plain.weights)
    again = save_model(factory, model_document(scored, data), scored.weights)
    assert first == again  # same settings and rows: the same model
    doc, _ = load_model(factory, again)
    assert doc["metrics"]["cv_grouped_rmse"] == pytest.approx(scored.cv_grouped_rmse)


def test_md_ids_tell_volumes_apart_and_are_known_before_the_run() -> None:
    from matforge.amorphous.documents import md_run_id

    settings = MeltQuenchSettings(
        target_atoms=8,
        melt_steps=4,
        quench_step=1000.0,
        quench_steps=2,
        equilibration_steps=2,
        production_steps=30,
        traj_interval=2,
        n_blocks=3,
    )
    calc = LennardJones(sigma=2.0, epsilon=0.05, rc=5.0, smooth=True)
    volumes = {1500.0: 15.0, 1000.0: 14.0}
    result = run_melt_quench("Li2O", calc, [1000, 1500], volumes, settings)
    doc = md_document(result, "lennard-jones", "test")
    expected = md_run_id(
        "OLi2", "lennard-jones", "test", settings.as_dict(), [1500, 1000], volumes
    )
    assert doc.md_id == expected
    other = md_run_id(
        "Li2O", "lennard-jones", "test", settings.as_dict(), [1500, 1000], None
    )
    assert other != expected
