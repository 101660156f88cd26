"""The file readers on the committed corpus: good records intact, bad ones explained."""

from __future__ import annotations

import gzip
import json
import math
from functools import cache
from pathlib import Path

import pytest
from pymatgen.core import Composition

from matforge.data.files import read_file, read_paths
from matforge.data.ingest import document_from_record
from matforge.data.records import RawRecord, record_from_dict, structures_from_cif
from matforge.schemas import BuildMeta, HydrideDoc, RejectDoc
from matforge.settings import MatforgeSettings

CORPUS = Path(__file__).parent / "corpus"
# A good P1 CIF (no symmetry to expand, so it parses fast).
SCH2_CIF = (CORPUS / "good_ScH2_latin1.cif").read_bytes().decode("latin-1")

# Files a reader cannot turn into a structure: (file, part of the reason).
UNREADABLE = [
    ("bad_unparsable.cif", "not a CIF: no data_ block found"),
    ("bad_truncated_mid_loop.cif", "truncated or malformed CIF"),
    (
        "bad_truncated_declared_formula.cif",
        "it declares LiMgH3 but its atom list gives LiMg",
    ),
    ("bad_binary.cif", "binary file"),
    ("bad_empty.cif", "the file is empty"),
    ("bad_zero_volume_lattice.cif", "zero-volume cell"),
    ("bad_unknown_element.json", "unknown element 'Qq'"),
    ("bad_broken.json", "broken JSON at line 38"),
    ("bad_truncated_gzip.json.gz", "not a valid gzip file"),
    ("bad_not_a_structure.json", "JSON holds no structure"),
    ("bad_csv_without_cif_column.csv", "CSV lacks the column(s) cif"),
    ("bad_vasp4_no_names.vasp", "VASP 4 format without element names"),
    ("bad_molecule_plain.xyz", "no cell: the file holds a molecule or cluster"),
    ("bad_slab_two_periodic.extxyz", "periodic along 2 of 3 directions only"),
]

# Files that read as a structure but fail the checks: (file, part of the reason).
FAILING_CHECKS = [
    ("bad_atoms_too_close.cif", "0.300 A apart, closer than the 0.5 A allowed"),
    ("bad_zero_volume_lattice.json", "zero-volume cell"),
    ("bad_unknown_element.cif", "unknown element(s) Xx"),
    ("bad_disordered.cif", "disordered (site 0 is Ti:0.50, Zr:0.50)"),
    (
        "bad_too_many_sites.cif",
        "24 sites in the primitive cell is more than the 20 allowed",
    ),
    (
        "bad_MAPbI3_no_hydride.cif",
        "not a metal hydride: every H in H6PbCI3N is bonded to C, N",
    ),
    ("bad_no_hydrogen.cif", "no hydrogen in MgO"),
    ("bad_no_metal.cif", "no metal in H4NCl"),
    ("bad_nan_formation_energy.json", "formation_energy_per_atom is NaN"),
]

GOOD_FORMULAS = [
    *("TiH2", "ScH2", "MgH2", "LiH", "KH", "YH2", "HPd", "CsH", "NaH", "NiH"),
    *("NaAlH4", "AlH3", "CaH2", "ZrH2", "SrH2", "CeH2", "HfH2", "KMgH3", "LaH2"),
    *("Mg2FeH6", "VH2", "RbH", "RbH", "RbH"),
]


@cache
def records_of(name: str) -> tuple[RawRecord, ...]:
    """Read a corpus file once per test session (the tests never change records)."""
    return tuple(read_file(CORPUS / name))


def read_one(name: str) -> RawRecord:
    (record,) = records_of(name)
    return record


def check(record: RawRecord, settings: MatforgeSettings) -> HydrideDoc | RejectDoc:
    return document_from_record(record, "files", settings, BuildMeta())


@pytest.mark.parametrize(("name", "reason"), UNREADABLE)
def test_unreadable_file_gives_one_record_with_a_reason(name, reason):
    record = read_one(name)
    assert record.structure is None
    assert reason in record.error
    assert record.input == str(CORPUS / name)


@pytest.mark.parametrize(("name", "reason"), FAILING_CHECKS)
def test_bad_structure_is_read_then_rejected(name, reason, memory_settings):
    record = read_one(name)
    assert record.error is None
    doc = check(record, memory_settings)
    assert isinstance(doc, RejectDoc)
    assert reason in doc.reason
    assert doc.input == record.input
    assert doc.snippet  # the offending content, for a person to look at


def test_limits_come_from_the_settings(memory_settings):
    record = read_one("bad_too_many_sites.cif")
    loose = memory_settings.model_copy(
        update={"ingest": memory_settings.ingest.model_copy(update={"max_sites": 40})}
    )
    assert isinstance(check(record, loose), HydrideDoc)


def test_cif_with_symmetry_is_expanded():
    record = read_one("good_TiH2_fluorite.cif")
    assert record.error is None
    assert record.structure.composition == Composition("Ti4H8")
    assert record.material_id is None  # the document derives one from the structure


def test_latin1_cif_is_read():
    record = read_one("good_ScH2_latin1.cif")
    assert record.error is None
    assert record.structure.composition.reduced_formula == "ScH2"


def test_structure_json():
    record = read_one("good_MgH2_rutile_structure.json")
    assert record.error is None
    assert len(record.structure) == 6
    assert record.structure.composition.reduced_formula == "MgH2"


def test_record_json_keeps_every_field(memory_settings):
    record = read_one("good_LiH_record.json")
    assert record.error is None
    assert record.material_id == "corpus-LiH"
    assert record.structure.composition.reduced_formula == "LiH"
    assert record.formation_energy_per_atom == pytest.approx(-0.456)
    assert record.e_above_hull == 0.0
    assert record.band_gap == pytest.approx(3.0)
    assert record.provenance == "matforge test corpus (hand-made)"
    assert record.licence
    doc = check(record, memory_settings)
    assert isinstance(doc, HydrideDoc)
    assert doc.material_id == "corpus-LiH"
    assert doc.formula == "Li1H1"
    assert doc.formation_energy_per_atom == pytest.approx(-0.456)
    assert doc.spacegroup_number == 225
    assert doc.storage_score is not None


def test_computed_structure_entry():
    record = read_one("good_KH_computed_entry.json")
    assert record.error is None
    assert record.material_id == "corpus-KH"
    assert record.structure.composition.reduced_formula == "KH"
    assert record.formation_energy_per_atom == pytest.approx(-0.29)
    assert record.e_above_hull == 0.0
    assert record.band_gap == pytest.approx(3.5)


def test_gzipped_json():
    record = read_one("good_YH2_records.json.gz")
    assert record.error is None
    assert record.input == f"{CORPUS / 'good_YH2_records.json.gz'}[0]"
    assert record.material_id == "corpus-YH2"
    assert record.formation_energy_per_atom == pytest.approx(-0.77)


def test_mixed_json_list_keeps_the_good_items():
    records = records_of("mixed_records_list.json")
    assert len(records) == 4
    good = [r for r in records if r.error is None]
    assert [r.material_id for r in good] == ["corpus-PdH", "corpus-CsH"]
    assert [r.structure.composition.reduced_formula for r in good] == ["HPd", "CsH"]
    assert records[1].input.endswith("mixed_records_list.json[1]")
    assert "got the number 42" in records[1].error
    assert "neither a pymatgen Structure" in records[2].error
    assert "MgH2" in records[2].snippet


def test_mp20_csv_keeps_the_good_row():
    good, bad = records_of("mixed_mp20_format.csv")
    assert good.error is None
    assert good.input.endswith("mixed_mp20_format.csv:row 1 (corpus-NaH)")
    assert good.material_id == "corpus-NaH"
    assert good.structure.composition.reduced_formula == "NaH"
    assert float(good.formation_energy_per_atom) == pytest.approx(-0.3)
    assert float(good.band_gap) == pytest.approx(3.8)
    assert float(good.e_above_hull) == 0.0
    assert bad.error is None  # NaCl reads fine; the checks reject it
    assert bad.input.endswith("row 2 (corpus-NaCl)")
    assert bad.structure.composition.reduced_formula == "NaCl"


def test_two_block_cif_keeps_the_good_block():
    records = records_of("mixed_two_blocks.cif")
    assert len(records) == 2
    (failed,) = [r for r in records if r.error is not None]
    (good,) = [r for r in records if r.error is None]
    assert "data block CuH_no_cell" in failed.error
    assert "no cell parameters" in failed.error
    assert good.structure.composition.reduced_formula == "NiH"
    assert good.input.endswith("mixed_two_blocks.cif#0")
    assert failed.input.endswith("mixed_two_blocks.cif#1")
    assert good.file == failed.file == str(CORPUS / "mixed_two_blocks.cif")


def test_whole_corpus_reads_and_checks_without_raising(memory_settings):
    records = list(read_paths([CORPUS]))
    docs = [check(r, memory_settings) for r in records]
    good = sorted(d.reduced_formula for d in docs if isinstance(d, HydrideDoc))
    assert good == sorted(GOOD_FORMULAS)
    rejects = [d for d in docs if isinstance(d, RejectDoc)]
    assert len(rejects) == 27
    assert all(r.reason and "Error" not in r.reason for r in rejects)
    assert len({r.reject_id for r in rejects}) == len(rejects)


def test_every_corpus_file_is_described_in_the_readme():
    readme = (CORPUS.parent / "CORPUS.md").read_text()
    for path in CORPUS.iterdir():
        assert f"`{path.name}`" in readme, path.name


@pytest.mark.parametrize(
    "name",
    [
        "good_TiH2_fluorite.cif",
        "good_LiH_record.json",
        "good_KH_computed_entry.json",
        "mixed_mp20_format.csv",
        "mixed_two_blocks.cif",
    ],
)
def test_good_files_cut_anywhere_never_raise(name, tmp_path, memory_settings):
    data = (CORPUS / name).read_bytes()
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.9, 0.97):
        cut = tmp_path / f"cut-{fraction}-{name}"
        cut.write_bytes(data[: int(len(data) * fraction)])
        records = list(read_file(cut))
        assert records
        for record in records:
            doc = check(record, memory_settings)
            if isinstance(doc, RejectDoc):
                assert doc.reason


def test_missing_path():
    (record,) = read_paths(["/no/such/place.cif"])
    assert record.error == "no such file or folder"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"  \n\t\n", "only blanks"),
        ("\ufeffdata_x\n".encode("utf-16"), "binary file"),
        (bytes(range(256)) * 4, "binary file"),
    ],
)
def test_blank_and_binary_bytes(tmp_path, content, reason):
    path = tmp_path / "input.cif"
    path.write_bytes(content)
    (record,) = read_file(path)
    assert reason in record.error


def test_gzip_of_plain_text(tmp_path):
    path = tmp_path / "plain.json.gz"
    path.write_text("[]")
    (record,) = read_file(path)
    assert "not a valid gzip file" in record.error


def test_gzip_holding_a_broken_json(tmp_path):
    path = tmp_path / "broken.json.gz"
    path.write_bytes(gzip.compress(b'[{"structure": '))
    (record,) = read_file(path)
    assert "broken JSON at line 1" in record.error


def test_empty_json_list(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("[]")
    (record,) = read_file(path)
    assert "the JSON list is empty" in record.error


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda t: t.replace("_cell_length_c      3.3821\n", ""), "_cell_length_c"),
        (
            lambda t: t.replace("0.25000  0.25000  0.25000", "0.25 x 0.25"),
            "not a number",
        ),
        (
            lambda t: t.replace("loop_", "loop_\n_atom_site_label\n", 1)[:-20],
            "truncated",
        ),
    ],
)
def test_cif_problems_are_explained(change, reason):
    structures, problems = structures_from_cif(change(SCH2_CIF))
    assert structures == []
    (problem,) = problems
    assert reason in problem


def test_record_with_cif_text_and_bad_types():
    record = record_from_dict({"structure": SCH2_CIF, "band_gap": "n/a"}, "x")
    assert record.structure.composition.reduced_formula == "ScH2"
    assert record_from_dict(None, "x").error.endswith("got null")
    assert record_from_dict("TiH2", "x").error.endswith("got a string")
    broken = json.loads((CORPUS / "good_MgH2_rutile_structure.json").read_text())
    del broken["lattice"]
    assert "the field 'lattice' is missing" in record_from_dict(broken, "x").error


def test_energy_that_is_not_a_number_is_rejected(memory_settings):
    for value, reason in ((math.inf, "is inf"), ("n/a", "not a number: 'n/a'")):
        record = record_from_dict(
            {"structure": SCH2_CIF, "formation_energy_per_atom": value}, "x"
        )
        doc = check(record, memory_settings)
        assert isinstance(doc, RejectDoc)
        assert reason in doc.reason
