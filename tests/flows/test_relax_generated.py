"""The relax stage on real (small) crystals with the default ML potential."""

import pytest
from pymatgen.core import Lattice, Structure

from matforge.flows.relax import relax_generated
from matforge.stores import upsert_documents

pytestmark = pytest.mark.slow


def generated(gid: str, structure: Structure) -> dict:
    return {
        "generated_id": gid,
        "run_id": "run-1",
        "structure": structure.as_dict(),
        "content_hash": gid,
    }


def test_generated_crystals_become_relaxed_documents(memory_factory):
    tih2 = Structure(
        Lattice.cubic(3.1), ["Ti", "H", "H"], [[0, 0, 0], [0.25] * 3, [0.75] * 3]
    )
    lih = Structure(Lattice.cubic(4.0), ["Li", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    store = memory_factory.store("generated")
    upsert_documents(
        store,
        [generated("g-tih2", tih2), generated("g-lih", lih), generated("g-x", lih)],
        "generated_id",
    )
    out = relax_generated(
        memory_factory, "run-1", memory_factory.settings, ["g-tih2", "g-lih"]
    )
    assert out["relaxed"] == 2
    assert out["reused"] == 0
    docs = {d["generated_id"]: d for d in memory_factory.store("relaxed").query({})}
    assert set(docs) == {"g-tih2", "g-lih"}  # g-x was not asked for
    for doc in docs.values():
        assert doc["run_id"] == "run-1"
        assert not doc["failed"], doc.get("failure_reason")
        assert doc["potential"]
        assert doc["formation_energy_per_atom"] < 0  # both are stable hydrides
        assert doc["storage_score"] > 0
    again = relax_generated(
        memory_factory, "run-1", memory_factory.settings, ["g-tih2", "g-lih"]
    )
    assert again["reused"] == 2
    assert again["relaxed"] == 0
    assert memory_factory.store("relaxed").count() == 2


def test_relax_generated_command(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from matforge.cli import cli
    from matforge.settings import load_settings
    from matforge.stores import StoreFactory

    lih = Structure(Lattice.cubic(4.0), ["Li", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with StoreFactory(load_settings()) as factory:
        upsert_documents(
            factory.store("generated"), [generated("g-lih", lih)], "generated_id"
        )
    result = CliRunner().invoke(cli, ["relax-generated", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["relaxed"] == 1
    assert out["relaxed_total"] == 1
    empty = CliRunner().invoke(cli, ["relax-generated", "--run", "nope"])
    assert empty.exit_code != 0
    assert "no generated crystals" in empty.output


def test_a_stage_killed_mid_way_keeps_the_crystals_it_wrote(
    memory_factory, monkeypatch
):
    lih = Structure(Lattice.cubic(4.0), ["Li", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ids = [f"g-{i}" for i in range(3)]
    upsert_documents(
        memory_factory.store("generated"),
        [generated(gid, lih) for gid in ids],
        "generated_id",
    )
    from matforge.flows import relax as engine  # where the stage calls the engine

    real = engine.run_potential
    seen = []

    def killed_at_the_third_result(structures, spec, params, **kwargs):
        assert len(structures) == 3  # one in-flight batch for all crystals
        write = kwargs["on_result"]

        def on_result(result):
            seen.append(result.index)
            if len(seen) == 3:
                raise KeyboardInterrupt
            write(result)

        kwargs["on_result"] = on_result
        return real(structures, spec, params, **kwargs)

    monkeypatch.setattr(engine, "run_potential", killed_at_the_third_result)
    with pytest.raises(KeyboardInterrupt):
        relax_generated(memory_factory, "run-1", memory_factory.settings, ids, chunk=2)
    assert len(seen) == 3
    assert memory_factory.store("relaxed").count() == 2  # the first two, written
    monkeypatch.setattr(engine, "run_potential", real)
    out = relax_generated(
        memory_factory, "run-1", memory_factory.settings, ids, chunk=2
    )
    assert out["reused"] == 2
    assert out["relaxed"] == 1
    assert memory_factory.store("relaxed").count() == 3


def test_crystals_of_another_campaign_are_an_error_not_an_empty_stage(memory_factory):
    lih = Structure(Lattice.cubic(4.0), ["Li", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    upsert_documents(
        memory_factory.store("generated"), [generated("g-lih", lih)], "generated_id"
    )
    with pytest.raises(ValueError, match="1 of the 1 generated crystals"):
        relax_generated(memory_factory, "run-2", memory_factory.settings, ["g-lih"])
