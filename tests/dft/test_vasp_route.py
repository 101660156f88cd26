"""The VASP route: atomate2 MP flows, FireWorks workflows, results read back.

VASP cannot run here: the flows are built, their input sets written with
POTCAR symbols only (no POTCAR files needed), and the collection step is fed
task documents shaped like atomate2's.
"""

import json
import uuid

import pytest
from click.testing import CliRunner
from dft_helpers import FAKE_MU, candidates_store
from jobflow import JobStore
from maggma.stores import MemoryStore
from pymatgen.core import Lattice, Structure

from matforge.cli import cli
from matforge.dft.vasp import (
    METADATA_KEY,
    flow_jobs,
    input_sets,
    result_from_task_doc,
    validation_workflow,
    vasp_flow,
)
from matforge.flows.vasp import collect_vasp_results, plan_vasp_validation
from matforge.stores.queries import ranked_candidates


@pytest.fixture
def candidates_factory(shared_data, tmp_path):
    with candidates_store(shared_data, tmp_path) as factory:
        yield factory


def test_the_flow_is_atomate2s_mp_double_relaxation_and_static(lih):
    flow = vasp_flow(lih, "validate LiH", {"task_id": "dft-1", "purpose": "x"})
    jobs = flow_jobs(flow)
    assert [j.name for j in jobs] == [
        "MP GGA relax 1",
        "MP GGA relax 2",
        "MP GGA static",
    ]
    assert all(j.metadata[METADATA_KEY]["task_id"] == "dft-1" for j in jobs)
    sets = input_sets(flow, lih)
    relax, static = sets["MP GGA relax 1"], sets["MP GGA static"]
    assert relax.incar["ENCUT"] == 520
    assert relax.incar["ISIF"] == 3
    assert relax.incar["EDIFF"] == pytest.approx(1e-4)
    assert relax.incar["ISPIN"] == 2
    assert "LDAU" not in relax.incar
    assert static.incar["NSW"] == 0
    assert static.incar["ENCUT"] == 520
    assert str(relax["POTCAR.spec"]).split() == ["Li_sv", "H"]


def test_oxides_of_u_elements_get_mps_u_values():
    feho2 = Structure(
        Lattice.cubic(4.0),
        ["Fe", "H", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0]],
    )
    incar = input_sets(vasp_flow(feho2, "x", {}), feho2)["MP GGA relax 1"].incar
    assert incar["LDAU"] is True
    assert dict(zip(["Fe", "H", "O"], incar["LDAUU"], strict=True))["Fe"] == 5.3


def test_fireworks_workflow(lih):
    pytest.importorskip("fireworks", reason="FireWorks is not installed (dft extra)")
    flows = [vasp_flow(lih, f"validate {i}", {"task_id": f"t{i}"}) for i in range(2)]
    workflow = validation_workflow(flows, "matforge dft validation")
    assert workflow.name == "matforge dft validation"
    assert len(workflow.fws) == 6
    names = sorted(fw.name for fw in workflow.fws)
    assert names.count("MP GGA static") == 2
    statics = [fw for fw in workflow.fws if fw.name == "MP GGA static"]
    assert all(len(workflow.links.parent_links[fw.fw_id]) == 1 for fw in statics)


def _task_doc(structure: Structure, energy: float, state="successful") -> dict:
    return {
        "state": state,
        "task_label": "MP GGA static",
        "output": {"energy": energy, "structure": structure.as_dict()},
        "calcs_reversed": [{"input": {"incar": {"ENCUT": 520, "NSW": 0}}}],
        "dir_name": "/scratch/run",
        "run_stats": {"overall": {"Elapsed time": 12.5}},
    }


def _fake_vasp_energy(structure: Structure) -> float:
    comp = structure.composition
    energy = sum(FAKE_MU[el.symbol] * n for el, n in comp.items())
    return energy + (-0.3 * comp.num_atoms if len(comp.elements) > 1 else 0.0)


def test_task_documents_are_read(lih):
    ok = result_from_task_doc(_task_doc(lih, -6.0), "t")
    assert (ok.ok, ok.energy, ok.seconds, ok.parameters["ENCUT"]) == (
        True,
        -6.0,
        12.5,
        520,
    )
    failed = result_from_task_doc(_task_doc(lih, -6.0, state="failed"), "t")
    assert (failed.ok, failed.error) == (False, "VASP task state failed")


def _finish(job_store: JobStore, plan, skip=()) -> None:
    """Write the static outputs a cluster would have written."""
    for flow, task in zip(plan.flows, plan.tasks, strict=True):
        if task.purpose == "reference" and task.element in skip:
            continue
        static = flow_jobs(flow)[-1]
        structure = task.input_structure
        job_store.docs_store.update(
            {
                "uuid": static.uuid,
                "index": 1,
                "name": static.name,
                "metadata": static.metadata,
                "output": _task_doc(structure, _fake_vasp_energy(structure)),
            },
            key=["uuid", "index"],
        )


def test_plan_submit_and_collect(candidates_factory):
    factory = candidates_factory
    plan = plan_vasp_validation(factory, top=3)
    purposes = [t.purpose for t in plan.tasks]
    assert purposes.count("candidate") == 3
    assert {t.element for t in plan.tasks if t.purpose == "reference"} == {
        "H",
        "Li",
        "Mg",
        "Ti",
    }
    stored = list(factory.store("dft_tasks").query({"state": "submitted"}))
    assert len(stored) == len(plan.tasks) == len(plan.flows)
    again = plan_vasp_validation(factory, top=3)
    assert again.flows == []
    assert len(plan_vasp_validation(factory, top=3, resubmit=True).flows) == 7

    job_store = JobStore(MemoryStore(f"jobs-{uuid.uuid4().hex}"))
    job_store.connect()
    _finish(job_store, plan, skip={"Ti"})
    docs = collect_vasp_results(factory, job_store)
    # the TiH2 candidate waits for its Ti reference
    assert sorted(d.purpose for d in docs) == ["candidate"] * 2 + ["reference"] * 3
    assert all(d.state == "successful" and d.code == "vasp" for d in docs)
    rows = ranked_candidates(factory.store("candidates"), top=3)
    filled = [r for r in rows if r["formation_energy_dft_per_atom"] is not None]
    assert len(filled) == 2
    for row in filled:
        comp = Structure.from_dict(row["structure"]).composition
        expected = -0.3 - 0.179 * comp["H"] / comp.num_atoms
        assert row["formation_energy_dft_per_atom"] == pytest.approx(expected)

    _finish(job_store, plan)
    more = collect_vasp_results(factory, job_store)
    assert sorted(d.purpose for d in more) == ["candidate", "reference"]
    assert plan_vasp_validation(factory, top=3).flows == []


def test_validate_command_writes_the_workflow(
    candidates_factory, monkeypatch, tmp_path
):
    pytest.importorskip("fireworks", reason="FireWorks is not installed (dft extra)")
    uri = candidates_factory.settings.store.uri.get_secret_value()
    monkeypatch.setenv("MATFORGE_STORE__URI", uri)
    runner = CliRunner()
    path = tmp_path / "wf.json"
    result = runner.invoke(
        cli,
        ["validate", "--code", "vasp", "--top", "2", "--workflow", str(path), "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["fireworks"] == 3 * len(payload["submitted"])
    assert payload["workflow"] == str(path)
    from fireworks import Workflow

    assert len(Workflow.from_file(str(path)).fws) == payload["fireworks"]
    again = runner.invoke(cli, ["validate", "--code", "vasp", "--top", "2"])
    assert "nothing to submit" in again.output
    collected = runner.invoke(cli, ["validate", "--code", "vasp", "--collect"])
    assert "collected 0 finished VASP tasks" in collected.output


def test_without_fireworks_the_workflow_says_what_to_install(lih, monkeypatch):
    import sys

    from matforge.dft.availability import DftError

    monkeypatch.setitem(sys.modules, "jobflow.managers.fireworks", None)
    with pytest.raises(DftError, match="FireWorks is not installed"):
        validation_workflow([vasp_flow(lih, "x", {})], "w")


def test_gpaw_and_vasp_validate_the_same_candidates(candidates_factory, monkeypatch):
    """Both codes take their candidates from one ranking, overall or per campaign."""
    from dft_helpers import FakeDft

    from matforge.flows.dft import dft_stage, validate_candidates

    factory = candidates_factory
    store = factory.store("candidates")
    # a second campaign owns the collection's best candidate
    best = ranked_candidates(store, top=1)[0]
    doc = store.query_one({"candidate_id": best["candidate_id"]})
    doc.pop("_id")
    store.update([doc | {"run_id": "r2"}], key="candidate_id")

    def vasp_ids(**options) -> list[str]:
        plan = plan_vasp_validation(factory, resubmit=True, **options)
        return [t.candidate_id for t in plan.tasks if t.purpose == "candidate"]

    gpaw = validate_candidates(factory, top=2, runner=FakeDft())
    assert [r.candidate_id for r in gpaw.rows] == vasp_ids(top=2)
    assert best["candidate_id"] in vasp_ids(top=2)

    # the campaign r1's own top 2, without r2's candidate, for both codes
    monkeypatch.setattr("matforge.flows.dft.gpaw_runner", lambda *_: FakeDft())
    factory.settings.dft.top_k = 2
    ranked_r1 = [
        r["candidate_id"] for r in ranked_candidates(store, run_id="r1", top=2)
    ]
    out = dft_stage(factory, factory.settings, "r1", {"top_ids": ranked_r1})
    assert out["validated"] == ranked_r1 == vasp_ids(top=2, run_id="r1")
    assert best["candidate_id"] not in ranked_r1


def test_novel_only_skips_known_candidates_for_both_codes(candidates_factory):
    from dft_helpers import FakeDft

    from matforge.flows.dft import validate_candidates

    factory = candidates_factory
    store = factory.store("candidates")
    ranked = ranked_candidates(store)
    docs = []
    for i, row in enumerate(ranked):
        doc = store.query_one({"candidate_id": row["candidate_id"]})
        doc.pop("_id")
        docs.append(doc | {"is_novel": i != 0})  # the best one is known
    store.update(docs, key="candidate_id")
    known = ranked[0]["candidate_id"]

    gpaw = validate_candidates(factory, top=2, runner=FakeDft(), novel_only=True)
    picked = [r.candidate_id for r in gpaw.rows]
    plan = plan_vasp_validation(factory, top=2, resubmit=True, novel_only=True)
    assert picked == [t.candidate_id for t in plan.tasks if t.purpose == "candidate"]
    assert picked == [r["candidate_id"] for r in ranked[1:3]]
    assert known not in picked
