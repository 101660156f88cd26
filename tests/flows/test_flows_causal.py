"""The causal discovery stage on the store's hydrides: Maker, stores, command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from jobflow import run_locally

from matforge.cli import cli
from matforge.cli.causal import CAUSAL_TESTS
from matforge.data.ingest import ingest_records
from matforge.data.offline import offline_records
from matforge.flows.causal import CausalStageMaker, hydride_prepared_table
from matforge.settings import CausalSettings, MatforgeSettings
from matforge.stores import StoreFactory
from matforge.stores.causal import latest_graph, load_artefact, selected_features

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def hydride_factory(
    memory_settings: MatforgeSettings,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> StoreFactory:
    """A memory store holding the offline hydrides; jobs see it through the env."""
    uri = memory_settings.store.uri
    assert uri is not None
    monkeypatch.setenv("MATFORGE_STORE__URI", uri.get_secret_value())
    with StoreFactory(memory_settings) as factory:
        ingest_records(offline_records(shared_data, False), factory, "offline", [])
        yield factory


def test_test_choices_match_the_settings() -> None:
    choices = CausalSettings.model_fields["test"].annotation.__args__
    assert choices == CAUSAL_TESTS


def test_hydride_table_keeps_the_scored_rows(hydride_factory: StoreFactory) -> None:
    table = hydride_prepared_table(hydride_factory.store("hydrides"), CausalSettings())
    # 85 of the 104 seed entries are metal hydrides; 22 of them have energies
    assert table.data.shape[0] == 22
    assert table.nodes[0] == "storage_score"
    assert table.dropped_rows[0].name == "63 rows"
    assert table.dropped_rows[0].reason.startswith("no storage_score")
    kinds = {c.name: c.kind for c in table.columns}
    assert kinds["crystal_system"] == "ordinal"
    assert "spacegroup_number" not in table.nodes
    dropped = {d.name: d.reason for d in table.dropped_columns}
    assert dropped["e_above_hull"] == "missing in 11 of 22 rows"
    assert all(np.isfinite(table.data).ravel())


def test_maker_stores_the_graph_and_its_picture(
    hydride_factory: StoreFactory, tmp_path: Path
) -> None:
    maker = CausalStageMaker(
        run_id="r-causal", settings={"causal": {"bootstrap": 3, "seed": 5}}
    )
    job = maker.make()
    assert job.name == "causal discovery"
    responses = run_locally(
        job, store=hydride_factory.job_store(), root_dir=tmp_path, ensure_success=True
    )
    output = responses[job.uuid][1].output["output"]

    graphs = hydride_factory.store("causal_graphs")
    assert graphs.count() == 1
    doc = latest_graph(graphs, "storage_score")
    assert doc is not None
    assert doc.graph_id == output["graph_id"]
    assert output["selected_features"] == doc.selected_features
    assert doc.data.n_rows_used == 22
    assert doc.bootstrap is not None
    assert doc.bootstrap.seed == 5
    assert doc.build.settings["bootstrap"] == 3
    assert selected_features(graphs) == doc.selected_features
    assert doc.target not in doc.selected_features
    kinds = {ref.kind: ref for ref in doc.artefacts}
    assert set(kinds) == {"png", "dot", "csv"}
    png = load_artefact(hydride_factory.data_store(), kinds["png"])
    assert png.startswith(PNG_MAGIC)
    assert len(doc.model_dump_json()) < 100_000  # the bytes live elsewhere

    # The same stage of the same campaign is skipped; another campaign with the
    # same analysis of the same data replaces the graph's document.
    again = maker.make()
    skipped = run_locally(again, store=hydride_factory.job_store(), root_dir=tmp_path)
    assert skipped[again.uuid][1].output["skipped"] is True
    other = CausalStageMaker(run_id="r-other", settings=maker.settings).make()
    run_locally(other, store=hydride_factory.job_store(), root_dir=tmp_path)
    assert graphs.count() == 1


def test_maker_round_trips_through_its_dict() -> None:
    maker = CausalStageMaker(run_id="r", settings={"causal": {"alpha": 0.01}})
    again = CausalStageMaker.from_dict(maker.as_dict())
    assert again.settings["causal"]["alpha"] == 0.01
    assert again.run_id == "r"


def test_selected_features_need_a_graph(memory_factory: StoreFactory) -> None:
    with pytest.raises(LookupError, match="run `matforge causal`"):
        selected_features(memory_factory.store("causal_graphs"))


def test_command_on_the_store_writes_picture_and_json(
    shared_data: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", "offline"]).exit_code == 0
    out = tmp_path / "plots" / "pag.png"
    result = runner.invoke(
        cli, ["causal", "--bootstrap", "3", "--plot", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert set(payload) >= {"nodes", "edges", "neighbourhood", "selected_features"}
    assert "storage_score" in payload["nodes"]
    for edge in payload["edges"]:
        assert set(edge) >= {"a", "b", "mark_a", "mark_b", "stability"}
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert out.with_suffix(".dot").read_text().startswith("digraph PAG {")

    text = runner.invoke(cli, ["causal", "--bootstrap", "0"])
    assert text.exit_code == 0, text.output
    assert "neighbourhood of storage_score:" in text.output
    assert "stored in causal_graphs" in text.output
    stats = json.loads(runner.invoke(cli, ["db", "stats", "--json"]).output)
    assert stats["causal_graphs"] == 2


def test_command_on_an_empty_store_says_what_to_do() -> None:
    result = CliRunner().invoke(cli, ["causal", "--bootstrap", "0"])
    assert result.exit_code == 1
    assert "run `matforge ingest offline` first" in result.output


def _write_synthetic(path: Path) -> None:
    from matforge.causal.synthetic import EXAMPLE_DAG, linear_gaussian_sample

    names, data = linear_gaussian_sample(EXAMPLE_DAG, 2000, seed=0)
    lines = [",".join(["id", *names])]
    lines += [",".join([f"r{i}", *map(str, row)]) for i, row in enumerate(data)]
    path.write_text("\n".join(lines) + "\n")


def test_command_on_a_csv_table(tmp_path: Path) -> None:
    path = tmp_path / "synthetic.csv"
    _write_synthetic(path)
    args = ["causal", "--from-csv", str(path), "--target", "y", "--alpha", "0.01"]
    result = CliRunner().invoke(
        cli, [*args, "--ignore", "id", "--bootstrap", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert sorted(payload["selected_features"]) == ["x3", "x4", "x5"]
    assert {n["name"] for n in payload["neighbourhood"]} == {
        "x1",
        "x2",
        "x3",
        "x4",
        "x5",
    }

    text = CliRunner().invoke(cli, [*args])
    assert text.exit_code == 1
    assert "text in numeric columns: 'id' ('r0' in row 1)" in text.output


@pytest.mark.parametrize(
    ("table", "extra", "message"),
    [
        ("x,y\n1,2\n", [], "1 usable row"),
        ("x,z\n1,2\n2,3\n3,5\n4,4\n5,1\n", [], "target column 'y' is not in the table"),
        ("x,y\n1,\n2,3\n3,5\n4,4\n5,1\n", [], "missing values"),
        ("x,y\n1,1\n1,3\n1,5\n1,4\n1,1\n", [], "nothing to relate 'y' to"),
    ],
)
def test_command_explains_a_malformed_table(
    tmp_path: Path, table: str, extra: list[str], message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(table)
    result = CliRunner().invoke(
        cli, ["causal", "--from-csv", str(path), "--target", "y", *extra]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_command_refuses_csv_options_without_a_csv() -> None:
    result = CliRunner().invoke(cli, ["causal", "--ignore", "id"])
    assert result.exit_code == 1
    assert "apply to --from-csv" in result.output
