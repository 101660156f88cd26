"""``matforge ingest`` end to end: the corpus, re-ingests, the offline snapshot."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from matforge.cli import cli
from matforge.settings import load_settings
from matforge.stores import StoreFactory

CORPUS = Path(__file__).parent / "corpus"

GOOD = [  # (reduced formula, material_id; None: derived from the structure)
    *[(f, None) for f in ("TiH2", "ScH2", "MgH2", "NiH", "NaAlH4", "AlH3", "CaH2")],
    *[(f, None) for f in ("ZrH2", "SrH2", "CeH2", "HfH2", "KMgH3", "LaH2")],
    *[(f, None) for f in ("Mg2FeH6", "VH2", "RbH", "RbH", "RbH")],
    ("LiH", "corpus-LiH"),
    ("KH", "corpus-KH"),
    ("YH2", "corpus-YH2"),
    ("HPd", "corpus-PdH"),
    ("CsH", "corpus-CsH"),
    ("NaH", "corpus-NaH"),
]

# input (relative to the corpus) -> a part of the reason it was rejected
REJECTED = {
    "bad_unparsable.cif": "not a CIF: no data_ block found",
    "bad_truncated_mid_loop.cif": "truncated or malformed CIF",
    "bad_truncated_declared_formula.cif": "declares LiMgH3 but its atom list gives",
    "bad_binary.cif": "binary file",
    "bad_empty.cif": "the file is empty",
    "bad_atoms_too_close.cif": "0.300 A apart, closer than the 0.5 A allowed",
    "bad_zero_volume_lattice.cif": "zero-volume cell",
    "bad_zero_volume_lattice.json": "zero-volume cell",
    "bad_unknown_element.cif": "unknown element(s) Xx",
    "bad_unknown_element.json": "unknown element 'Qq'",
    "bad_disordered.cif": "the structure is disordered",
    "bad_too_many_sites.cif": "24 sites in the primitive cell is more than the 20",
    "bad_no_hydrogen.cif": "no hydrogen in MgO",
    "bad_no_metal.cif": "no metal in H4NCl",
    "bad_nan_formation_energy.json": "formation_energy_per_atom is NaN",
    "bad_broken.json": "broken JSON at line 38",
    "bad_truncated_gzip.json.gz": "not a valid gzip file",
    "bad_not_a_structure.json": "JSON holds no structure",
    "bad_csv_without_cif_column.csv": "CSV lacks the column(s) cif",
    "mixed_records_list.json[1]": "got the number 42",
    "mixed_records_list.json[2]": "neither a pymatgen Structure",
    "mixed_mp20_format.csv:row 2 (corpus-NaCl)": "no hydrogen in NaCl",
    "mixed_two_blocks.cif#1": "data block CuH_no_cell: the CIF has no cell parameters",
    "bad_MAPbI3_no_hydride.cif": "not a metal hydride: every H in H6PbCI3N",
    "bad_vasp4_no_names.vasp": "VASP 4 format without element names",
    "bad_molecule_plain.xyz": "no cell: the file holds a molecule or cluster",
    "bad_slab_two_periodic.extxyz": "periodic along 2 of 3 directions only",
}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def ingest_json(*paths: Path | str, command: str = "files") -> tuple[int, Any]:
    result = invoke("ingest", command, *map(str, paths), "--json")
    return result.exit_code, json.loads(result.stdout)


def stored(collection: str) -> list[dict[str, Any]]:
    with StoreFactory(load_settings()) as factory:
        return list(factory.store(collection).query())


def by_input(rejected: list[dict[str, str]]) -> dict[str, str]:
    prefix = f"{CORPUS}/"
    assert all(r["input"].startswith(prefix) for r in rejected)
    return {r["input"][len(prefix) :]: r["reason"] for r in rejected}


@pytest.fixture
def corpus_ingested() -> dict[str, Any]:
    """Ingest the corpus once into the test's fresh embedded database."""
    code, summary = ingest_json(CORPUS)
    assert code == 0
    return summary


def test_corpus_good_ingested_bad_rejected(corpus_ingested):
    summary = corpus_ingested
    assert summary["read"] == len(GOOD) + len(REJECTED)
    assert summary["ingested"] == len(GOOD)
    assert summary["updated"] == summary["unchanged"] == 0
    reasons = by_input(summary["rejected"])
    assert set(reasons) == set(REJECTED)
    for name, expected in REJECTED.items():
        assert expected in reasons[name], name

    docs = stored("hydrides")
    assert sorted(d["reduced_formula"] for d in docs) == sorted(f for f, _ in GOOD)
    ids = dict(GOOD)
    for doc in docs:
        wanted = ids[doc["reduced_formula"]]
        if wanted is None:
            assert doc["material_id"].startswith("mf-")
        else:
            assert doc["material_id"] == wanted
        assert doc["source"] == "files"
        assert doc["origin"].startswith(str(CORPUS))
    naalh4 = next(d for d in docs if d["reduced_formula"] == "NaAlH4")
    assert (naalh4["nsites"], naalh4["input_nsites"]) == (12, 24)
    assert summary["reduced_to_primitive"] == 7
    assert summary["without_energy"] == len(GOOD) - 7  # 7 come with an energy
    assert "add `--energies`" in summary["hint"]
    lih = next(d for d in docs if d["material_id"] == "corpus-LiH")
    assert lih["formation_energy_per_atom"] == pytest.approx(-0.456)
    assert lih["band_gap"] == pytest.approx(3.0)
    nah = next(d for d in docs if d["material_id"] == "corpus-NaH")
    assert nah["formation_energy_per_atom"] == pytest.approx(-0.3)

    rejects = stored("rejects")
    assert len(rejects) == len(REJECTED)
    assert {r["reason"] for r in rejects} == {r["reason"] for r in summary["rejected"]}
    assert {r["file"] for r in rejects} == {
        str(CORPUS / name.split("#")[0].split("[")[0].split(":")[0])
        for name in REJECTED
    }


def test_corpus_human_output_names_every_reject():
    result = invoke("ingest", "files", str(CORPUS))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"read {len(GOOD) + len(REJECTED)}: ingested {len(GOOD)}, updated 0, "
        f"unchanged 0, rejected {len(REJECTED)}"
    )
    for name, expected in REJECTED.items():
        prefix = f"  rejected {CORPUS}/{name}: "
        (line,) = [li for li in lines if li.startswith(prefix)]
        assert expected in line
    assert lines[-1].startswith(f"hydrides: {len(GOOD)} in embedded montydb at")


def test_second_ingest_changes_nothing(corpus_ingested):
    before = {d["material_id"]: d["last_updated"] for d in stored("hydrides")}
    code, again = ingest_json(CORPUS)
    assert code == 0
    assert again["ingested"] == again["updated"] == 0
    assert again["unchanged"] == len(GOOD)
    assert again["rejected"] == corpus_ingested["rejected"]
    after = {d["material_id"]: d["last_updated"] for d in stored("hydrides")}
    assert after == before
    assert len(stored("rejects")) == len(REJECTED)


def test_only_bad_files_exit_non_zero(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("bad_empty.cif", "bad_broken.json", "bad_no_hydrogen.cif"):
        shutil.copy(CORPUS / name, folder / name)
    code, summary = ingest_json(folder)
    assert code != 0
    assert summary["ingested"] == 0
    assert [Path(r["input"]).name for r in summary["rejected"]] == [
        "bad_broken.json",
        "bad_empty.cif",
        "bad_no_hydrogen.cif",
    ]


def test_missing_path_exits_non_zero(tmp_path):
    code, summary = ingest_json(tmp_path / "nothing-here")
    assert code != 0
    assert summary["rejected"][0]["reason"] == "no such file or folder"


def test_changed_record_is_updated(tmp_path):
    record = json.loads((CORPUS / "good_LiH_record.json").read_text())
    path = tmp_path / "lih.json"
    path.write_text(json.dumps(record))
    assert ingest_json(path)[1]["ingested"] == 1
    (first,) = stored("hydrides")

    assert ingest_json(path)[1]["unchanged"] == 1
    (same,) = stored("hydrides")
    assert same["last_updated"] == first["last_updated"]

    record["formation_energy_per_atom"] = -0.5
    path.write_text(json.dumps(record))
    code, summary = ingest_json(path)
    assert code == 0
    assert (summary["ingested"], summary["updated"], summary["unchanged"]) == (0, 1, 0)
    (changed,) = stored("hydrides")
    assert changed["formation_energy_per_atom"] == pytest.approx(-0.5)
    assert changed["last_updated"] > first["last_updated"]
    assert changed["content_hash"] != first["content_hash"]


def test_offline_ingest_twice_and_in_a_new_process(shared_data):
    code, first = ingest_json(command="offline")
    assert code == 0
    # 19 seed entries hold H bonded only to O, N or S (hydroxides, Li2NH, KHS):
    # no metal hydrides (see matforge.core.chemistry)
    assert (first["read"], first["ingested"], len(first["rejected"])) == (104, 85, 19)
    assert all(r["reason"].startswith("not a metal hydride") for r in first["rejected"])
    code, second = ingest_json(command="offline")
    assert code == 0
    assert (second["read"], second["ingested"], second["unchanged"]) == (104, 0, 85)
    assert second["updated"] == 0

    # A new process with the same MATFORGE_HOME sees the same database.
    main = "from matforge.cli import main; main()"
    stats = subprocess.run(
        [sys.executable, "-c", main, "db", "stats", "--json"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    counts = json.loads(stats.stdout)
    assert counts["backend"] == "embedded"
    assert counts["location"].endswith(str(Path(os.environ["MATFORGE_HOME"]) / "db"))
    assert counts["hydrides"] == 85
    assert counts["rejects"] == 19


def test_worker_processes_give_the_same_documents_in_order(shared_data):
    from matforge.data.ingest import CHUNK, converted_records
    from matforge.data.offline import offline_records
    from matforge.schemas import BuildMeta
    from matforge.settings import load_settings

    settings = load_settings()
    build = BuildMeta()
    seed = list(offline_records(shared_data))
    records = (seed * (2 * CHUNK // len(seed) + 2))[: 2 * CHUNK + 7]
    serial = list(converted_records(records, "offline", settings, build, workers=1))
    parallel = list(converted_records(records, "offline", settings, build, workers=2))
    assert len(parallel) == len(records)
    assert [d and d["material_id"] for d, _ in parallel] == [
        d and d["material_id"] for d, _ in serial
    ]
    assert [d and d["content_hash"] for d, _ in parallel] == [
        d and d["content_hash"] for d, _ in serial
    ]
