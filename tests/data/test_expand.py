from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from matforge.cli import cli
from matforge.data.files import read_paths
from matforge.data.ingest import ingest_records
from matforge.errors import StoreBusyError
from matforge.flows import expand as expand_module
from matforge.flows.expand import STAGE, expand_dataset
from matforge.potentials.registry import resolve_potential
from matforge.settings import load_settings
from matforge.stores import StoreFactory

pytestmark = pytest.mark.potential


@pytest.fixture
def small_factory(tmp_path: Path, lih, mgh2, shared_data):
    """An embedded store holding LiH and MgH2, expanding with small pools."""
    seeds = tmp_path / "seeds.json"
    seeds.write_text(
        json.dumps(
            [
                {"material_id": "seed-lih", "structure": lih.as_dict()},
                {"material_id": "seed-mgh2", "structure": mgh2.as_dict()},
            ]
        )
    )
    settings = load_settings(
        home=tmp_path / "home",
        potential={"name": "sevennet-0", "steps": 150, "batch_size": 2},
        expand={"pools": ["alkali", "alkaline_earth"], "per_parent": 3},
    )
    with StoreFactory(settings) as factory:
        ingest_records(read_paths([seeds]), factory, "files", [str(seeds)])
        yield factory


def _computed(factory) -> list[dict]:
    return list(factory.store("hydrides").query({"source": "computed"}))


def test_expand_reaches_the_target_once(small_factory) -> None:
    spec = resolve_potential("sevennet-0")
    summary = expand_dataset(small_factory, spec, target=4)
    assert summary.reached
    assert summary.final_count == 4
    assert summary.accepted == 2
    docs = _computed(small_factory)
    assert len(docs) == 2
    for doc in docs:
        computed = doc["computed"]
        assert doc["material_id"] == computed["proposal_id"]
        assert computed["parent_id"] in {"seed-lih", "seed-mgh2"}
        assert computed["potential"] == "sevennet-0"
        assert computed["potential_version"] == spec.version
        assert {"torch", "torch-sim-atomistic"} <= set(doc["build"]["versions"])
        assert computed["converged"] is True
        assert computed["steps"] > 0
        assert len(computed["substitution"]) == 1
        assert doc["formation_energy_per_atom"] is not None
        assert doc["e_above_hull"] is not None
    again = expand_dataset(small_factory, spec, target=4)
    assert again.relaxed == 0
    assert again.final_count == 4
    assert len(_computed(small_factory)) == 2


def test_failures_are_kept_and_not_retried(small_factory) -> None:
    settings = small_factory.settings
    small_factory.settings = settings.model_copy(
        update={"potential": settings.potential.model_copy(update={"steps": 5})}
    )
    spec = resolve_potential("sevennet-0")
    summary = expand_dataset(small_factory, spec, target=3)
    assert summary.failed >= 1
    assert "did not converge within 5 steps" in summary.reasons
    rejects = list(small_factory.store("rejects").query({"stage": STAGE}))
    assert len(rejects) == summary.failed
    assert all("did not converge" in r["reason"] for r in rejects)
    again = expand_dataset(small_factory, spec, target=3)
    assert again.already_done >= summary.failed  # failed proposals are not retried
    # visible in `matforge db stats` (same home as the factory)
    stats = json.loads(CliRunner().invoke(cli, ["db", "stats", "--json"]).output)
    assert stats["rejects_by_stage"] == {STAGE: summary.failed}
    assert "computed" not in stats["hydrides_by_source"]


def test_a_killed_run_resumes_without_duplicates(small_factory, monkeypatch) -> None:
    spec = resolve_potential("sevennet-0")
    real_record = expand_module._Recorder.record
    calls = {"n": 0}

    def dying_record(self, *args, **kwargs):
        if calls["n"] == 1:
            raise KeyboardInterrupt  # killed after the first structure
        calls["n"] += 1
        return real_record(self, *args, **kwargs)

    monkeypatch.setattr(expand_module._Recorder, "record", dying_record)
    with pytest.raises(KeyboardInterrupt):
        expand_dataset(small_factory, spec, target=5)
    assert len(_computed(small_factory)) == 1
    monkeypatch.setattr(expand_module._Recorder, "record", real_record)
    summary = expand_dataset(small_factory, spec, target=5)
    assert summary.final_count == 5
    ids = [d["material_id"] for d in small_factory.store("hydrides").query({})]
    assert len(ids) == len(set(ids)) == 5
    formulas = [d["fingerprint"] for d in small_factory.store("hydrides").query({})]
    assert len(set(formulas)) == 5


def test_expand_command(tmp_path: Path, lih, shared_data, monkeypatch) -> None:
    seeds = tmp_path / "lih.json"
    seeds.write_text(
        json.dumps([{"material_id": "seed-lih", "structure": lih.as_dict()}])
    )
    monkeypatch.setenv("MATFORGE_POTENTIAL__NAME", "sevennet-0")
    monkeypatch.setenv("MATFORGE_EXPAND__POOLS", '["alkali"]')
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", "files", str(seeds)]).exit_code == 0
    result = runner.invoke(cli, ["dataset", "expand", "--target", "2", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["reached"] is True
    assert out["final_count"] == 2
    assert out["potential"] == "sevennet-0"
    text = runner.invoke(cli, ["dataset", "expand", "--target", "2"])
    assert "hydrides: 2 -> 2 (target 2, reached)" in text.output


def test_a_second_expansion_on_the_same_store_is_refused(
    small_factory, lock_holder
) -> None:
    spec = resolve_potential("sevennet-0")
    holder = lock_holder(small_factory.settings.home_dir)
    with pytest.raises(StoreBusyError, match=f"pid {holder.pid}: a test holder"):
        expand_dataset(small_factory, spec, target=3)
    holder.kill()
    holder.wait()
    assert _computed(small_factory) == []
    # released: the next run takes the lock (already at target: nothing to do)
    summary = expand_dataset(small_factory, spec, target=2)
    assert summary.accepted == 0
