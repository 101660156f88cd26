import csv
import gzip
import io
import json

import pytest
from click.testing import CliRunner
from pymatgen.core import Structure
from pymatgen.core.operations import SymmOp
from synthetic import synthetic_relaxed

from conftest import hydride_references, store_relaxed
from matforge.cli import cli
from matforge.settings import load_settings
from matforge.stores import StoreFactory


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def embedded_with_relaxed(monkeypatch, references_file, shared_data):
    """The embedded database with the seed hydrides and 40 synthetic relaxations."""
    monkeypatch.setenv("MATFORGE_CANDIDATES__REFERENCES_FILE", str(references_file))
    assert run("ingest", "offline").exit_code == 0
    with StoreFactory(load_settings()) as factory:
        store_relaxed(factory, synthetic_relaxed(shared_data, 40))


def test_build_then_list_the_ranked_candidates(embedded_with_relaxed, shared_data):
    first = run("build", "candidates", "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    assert summary["processed"] == 40
    assert summary["references_loaded"] > 60
    assert summary["candidates"] + summary["duplicates"] + summary["invalid"] == 40
    again = json.loads(run("build", "candidates", "--json").output)
    assert (again["processed"], again["references_loaded"]) == (0, 0)
    assert "judged 0 relaxed documents" in run("build", "candidates").output

    table = run("candidates", "--top", "10").output.splitlines()
    for heading in ("formula", "E_form pred", "E_form DFT", "score", "sq. error"):
        assert heading in table[0]
    for heading in ("known id", "same formula", "same ratio", "e_above_hull"):
        assert heading in table[0]
    assert 2 < len(table) <= 12

    with (shared_data / "paper_table.csv").open() as handle:
        paper_columns = next(csv.reader(handle))
    rows = list(csv.reader(io.StringIO(run("candidates", "--format", "csv").output)))
    header = rows[0]
    assert [c for c in header if c in paper_columns] == paper_columns
    assert {r[header.index("same_ratio")] for r in rows[1:]} <= {"TRUE", "FALSE"}
    assert {r[header.index("e_form_dft_ev_per_atom")] for r in rows[1:]} == {""}

    top = json.loads(run("candidates", "--top", "3", "--format", "json").output)
    assert [r["rank"] for r in top] == [1, 2, 3]
    scores = [r["storage_score"] for r in top]
    assert scores == sorted(scores, reverse=True)
    novel = json.loads(run("candidates", "--novel", "--json").output)
    assert all(r["is_novel"] for r in novel)


def test_novelty_of_structure_files(
    monkeypatch, references_file, shared_data, tmp_path
):
    monkeypatch.setenv("MATFORGE_CANDIDATES__REFERENCES_FILE", str(references_file))
    assert run("ingest", "offline").exit_code == 0
    refs = {r["material_id"]: r for r in hydride_references(shared_data)}
    tih2 = Structure.from_dict(refs["mp-24726"]["structure"])
    tih2.make_supercell([2, 2, 1])
    op = SymmOp.from_axis_angle_and_translation([1, 0, 1], 33)
    tih2 = Structure(
        op.operate_multi(tih2.lattice.matrix), tih2.species, tih2.frac_coords
    )
    tih2.perturb(0.03, min_distance=0.0, seed=4)
    tih2.to(filename=str(tmp_path / "ti4h8.cif"))
    # a hydride known only to the hydrides collection (WBM, not in references)
    with gzip.open(shared_data / "hydrides_seed.json.gz", "rt") as handle:
        seed = {r["material_id"]: r for r in json.load(handle)}
    cefeh3 = Structure.from_dict(seed["wbm-2-21231"]["structure"])
    (tmp_path / "cefeh3.json").write_text(json.dumps(cefeh3.as_dict()))
    (tmp_path / "broken.cif").write_text("data_x\n_cell_length_a 3\n")

    result = run(
        "novelty",
        str(tmp_path / "ti4h8.cif"),
        str(tmp_path / "cefeh3.json"),
        str(tmp_path / "broken.cif"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    answers = {a["input"].split("/")[-1]: a for a in json.loads(result.output)}
    ti = answers["ti4h8.cif"]
    assert ti["matched_id"] == "mp-24726"
    assert (ti["formula"], ti["reduced_formula"]) == ("Ti4H8", "TiH2")
    assert (ti["same_formula"], ti["same_ratio"]) == (False, True)
    assert {"mp-24726", "mp-1077353"} <= set(ti["known_ids_same_ratio"])
    assert answers["cefeh3.json"]["matched_id"] == "wbm-2-21231"
    assert answers["cefeh3.json"]["same_formula"]
    assert "error" in answers["broken.cif"]
    assert set(ti) == {
        "input",
        "formula",
        "reduced_formula",
        "same_formula",
        "same_ratio",
        "matched_id",
        "reference_id",
        "known_ids_same_ratio",
    }
    assert ti["reference_id"] == "mp-24726"  # the paper's MP-id column
    # the paper: Ti1H2 TRUE, Ti2H4 FALSE against one reference's cell formula
    ti2h4 = Structure.from_dict(refs["mp-24726"]["structure"])
    ti2h4.make_supercell([2, 1, 1])
    ti2h4.to(filename=str(tmp_path / "ti2h4.cif"))
    pair = run("novelty", str(tmp_path / "ti2h4.cif"), "--json")
    [doubled] = json.loads(pair.output)
    assert doubled["formula"] == "Ti2H4"
    assert (doubled["same_formula"], doubled["same_ratio"]) == (False, True)
    assert doubled["reference_id"] == "mp-24726"
    text = run("novelty", str(tmp_path / "ti4h8.cif")).output
    assert "matches mp-24726" in text
    assert run("novelty", str(tmp_path / "broken.cif")).exit_code == 1


def test_candidates_before_any_build():
    assert "run `matforge build candidates` first" in run("candidates").output


def test_materials_project_references_need_a_key(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    for args in (["build", "candidates", "--mp"], ["novelty", "--mp", "x.json"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1
        assert "no Materials Project API key" in result.output
        assert "Traceback" not in result.output
