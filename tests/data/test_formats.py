"""Structure formats beyond CIF and JSON: chosen by name and content, read right."""

from __future__ import annotations

import gzip
import shutil
import warnings
from itertools import islice
from pathlib import Path

import pytest
from pymatgen.core import Element

from matforge.data.files import read_file, read_paths
from matforge.data.formats import detect_format, format_by_name
from matforge.data.ingest import document_from_record
from matforge.schemas import BuildMeta, HydrideDoc, RejectDoc

CORPUS = Path(__file__).parent / "corpus"


def records(path: Path) -> list:
    return list(read_file(path))


def one(path: Path):
    (record,) = records(path)
    assert record.error is None, record.error
    return record


def doc_of(record, settings) -> HydrideDoc:
    doc = document_from_record(record, "files", settings, BuildMeta())
    assert isinstance(doc, HydrideDoc), getattr(doc, "reason", doc)
    return doc


@pytest.mark.parametrize(
    ("name", "reader", "fmt", "how"),
    [
        ("good_CaH2_species_line.vasp", "poscar", "poscar", "suffix"),
        ("CONTCAR", "poscar", "poscar", "name"),
        ("good_CeH2_vasprun.xml", "ase", "vasp-xml", "name"),
        ("good_RbH_eos_frames.extxyz", "ase", "extxyz", "suffix"),
        ("bad_molecule_plain.xyz", "ase", "extxyz", "suffix"),
        ("good_LaH2_fluorite.cssr", "pymatgen", "cssr", "suffix"),
        ("good_HfH2_scf.in", "ase", "espresso-in", "content"),
        ("good_NaAlH4_conventional.cif", "cif", "cif", "suffix"),
    ],
)
def test_format_is_chosen_by_name_then_content(name, reader, fmt, how):
    path = CORPUS / name
    found = detect_format(path, path.read_bytes()[:65536])
    assert (found.reader, found.name, found.how) == (reader, fmt, how)


@pytest.mark.parametrize(
    ("source", "target", "reader"),
    [
        ("good_CaH2_species_line.vasp", "structure", "poscar"),
        ("good_CeH2_vasprun.xml", "calc.xml", "ase"),
        ("good_RbH_eos_frames.extxyz", "frames.txt", "ase"),
        ("good_NaAlH4_conventional.cif", "download", "cif"),
    ],
)
def test_files_without_a_telling_name_are_read_by_content(
    source, target, reader, tmp_path
):
    path = tmp_path / target
    shutil.copy(CORPUS / source, path)
    assert format_by_name(path) is None
    found = detect_format(path, path.read_bytes())
    assert (found.reader, found.how) == (reader, "content")
    assert all(r.error is None for r in read_file(path))


def test_poscar_with_species_line(memory_settings):
    record = one(CORPUS / "good_CaH2_species_line.vasp")
    assert record.structure.composition.reduced_formula == "CaH2"
    assert len(record.structure) == 12
    assert record.notes == []
    assert doc_of(record, memory_settings).spacegroup_symbol == "Pnma"


def test_vasp4_poscar_takes_names_from_its_first_line(memory_settings):
    record = one(CORPUS / "good_ZrH2_vasp4_names_in_comment.vasp")
    assert record.structure.composition.reduced_formula == "ZrH2"
    assert record.notes == ["element names taken from its first line: Zr H"]
    doc = doc_of(record, memory_settings)
    assert (doc.nsites, doc.input_nsites) == (3, 6)  # body-centred: primitive 3
    assert doc.notes == record.notes


def test_vasp4_poscar_takes_names_from_a_potcar_beside_it(tmp_path):
    shutil.copy(CORPUS / "bad_vasp4_no_names.vasp", tmp_path / "POSCAR")
    (tmp_path / "POTCAR").write_text(
        "  PAW_PBE Li_sv 10Sep2004\n   TITEL  = PAW_PBE Li_sv 10Sep2004\n"
        " End of Dataset\n  PAW_PBE H 15Jun2001\n   TITEL  = PAW_PBE H 15Jun2001\n"
    )
    record = one(tmp_path / "POSCAR")
    assert [s.specie.symbol for s in record.structure] == ["Li", "H"]
    assert record.notes == ["element names taken from the POTCAR beside it: Li H"]


def test_vasp4_poscar_with_symbols_after_the_coordinates(tmp_path):
    text = (CORPUS / "bad_vasp4_no_names.vasp").read_text()
    text = text.replace("0.0  0.0  0.0\n", "0.0  0.0  0.0  Cs\n")
    text = text.replace("0.5  0.5  0.5\n", "0.5  0.5  0.5  H\n")
    path = tmp_path / "cs.vasp"
    path.write_text(text.replace("2.87", "3.30"))
    record = one(path)
    assert record.structure.composition.reduced_formula == "CsH"


def test_contcar_without_extension_keeps_no_velocities(memory_settings):
    record = one(CORPUS / "CONTCAR")
    assert record.structure.composition.reduced_formula == "SrH2"
    assert "velocities" not in record.structure.site_properties
    assert record.notes == [
        "velocities in the file not kept (a structure, not a trajectory, is stored)"
    ]
    assert doc_of(record, memory_settings).nsites == 12


def test_chgcar_gives_the_structure_block(tmp_path):
    poscar = (CORPUS / "good_CaH2_species_line.vasp").read_text()
    grid = "\n  2  2  2\n" + " 0.1 0.2 0.3 0.4 0.5\n 0.6 0.7 0.8\n"
    (tmp_path / "CHGCAR").write_text(poscar + grid)
    record = one(tmp_path / "CHGCAR")
    assert record.structure.composition.reduced_formula == "CaH2"


def test_vasprun_gives_its_last_step(memory_settings):
    record = one(CORPUS / "good_CeH2_vasprun.xml")
    assert record.input == str(CORPUS / "good_CeH2_vasprun.xml")  # one record
    assert record.structure.composition.reduced_formula == "CeH2"
    # the second ionic step, a = 5.58 A (the first was 5.60 A)
    assert record.structure.lattice.a == pytest.approx(5.58 / 2**0.5, abs=1e-6)
    assert doc_of(record, memory_settings).spacegroup_number == 225


def test_extxyz_gives_one_record_per_frame(memory_settings):
    path = CORPUS / "good_RbH_eos_frames.extxyz"
    found = records(path)
    assert [r.input for r in found] == [f"{path}[frame {i}]" for i in range(3)]
    assert [round(r.structure.volume, 2) for r in found] == [
        round(a**3 / 4, 2) for a in (5.95, 6.05, 6.15)
    ]
    assert [r.formation_energy_per_atom for r in found] == [None, -0.2, None]
    docs = [doc_of(r, memory_settings) for r in found]
    assert len({d.material_id for d in docs}) == 3
    assert docs[1].storage_score is not None


def test_a_cut_trajectory_keeps_the_whole_frames(tmp_path):
    data = (CORPUS / "good_RbH_eos_frames.extxyz").read_bytes()
    path = tmp_path / "cut.extxyz"
    path.write_bytes(data[: int(len(data) * 0.95)])
    found = records(path)
    assert [r.error is None for r in found] == [True, True, False]
    assert found[2].input == f"{path}[frame 2]"
    assert "unreadable extxyz file" in found[2].error


def test_compressed_and_binary_trajectories(tmp_path):
    import ase.io

    frames = ase.io.read(CORPUS / "good_RbH_eos_frames.extxyz", index=":")
    ase.io.write(tmp_path / "eos.traj", frames)
    shutil.copy(tmp_path / "eos.traj", tmp_path / "eos_no_suffix")
    (tmp_path / "eos.extxyz.gz").write_bytes(
        gzip.compress((CORPUS / "good_RbH_eos_frames.extxyz").read_bytes())
    )
    (tmp_path / "POSCAR.gz").write_bytes(
        gzip.compress((CORPUS / "good_CaH2_species_line.vasp").read_bytes())
    )
    for name in ("eos.traj", "eos_no_suffix", "eos.extxyz.gz"):
        found = records(tmp_path / name)
        assert [r.error for r in found] == [None] * 3, name
        assert {r.structure.composition.reduced_formula for r in found} == {"RbH"}
    assert one(tmp_path / "POSCAR.gz").structure.composition.reduced_formula == "CaH2"


def test_molecule_without_a_cell_is_refused():
    (record,) = records(CORPUS / "bad_molecule_plain.xyz")
    assert record.structure is None
    assert record.error.startswith("no cell: the file holds a molecule or cluster")


def test_deuterium_in_extended_xyz_and_cif(memory_settings):
    record = one(CORPUS / "good_VD2_deuteride.extxyz")
    assert {s.specie for s in record.structure} == {Element.V, Element.H}
    assert record.notes == ["deuterium (D) read as hydrogen (2 line(s) of the file)"]
    doc = doc_of(record, memory_settings)
    assert doc.reduced_formula == "VH2"
    assert doc.notes == record.notes

    doc = doc_of(one(CORPUS / "good_Mg2FeD6_deuteride.cif"), memory_settings)
    assert doc.reduced_formula == "Mg2FeH6"
    assert (doc.nsites, doc.input_nsites) == (9, 36)
    assert doc.notes == [
        "deuterium (D) on 24 site(s) read as hydrogen: stored as the hydride"
    ]
    assert all(
        sp["element"] == "H" or sp["element"] != "D"
        for site in doc.structure.as_dict()["sites"]
        for sp in site["species"]
    )


def test_cif_with_charges_in_type_symbols(memory_settings):
    record = one(CORPUS / "good_KMgH3_charged_types.cif")
    doc = doc_of(record, memory_settings)
    assert doc.reduced_formula == "KMgH3"
    assert doc.notes == ["oxidation states of the input (H-, K+, Mg2+) not kept"]
    assert {type(site.specie) for site in doc.structure} == {Element}


def test_conventional_cells_are_stored_primitive(memory_settings):
    for name, formula, sizes in [
        ("good_NaAlH4_conventional.cif", "NaAlH4", (12, 24)),
        ("good_AlH3_beta_conventional.cif", "AlH3", (16, 64)),
        ("good_LaH2_fluorite.cssr", "LaH2", (3, 12)),
        ("good_HfH2_scf.in", "HfH2", (3, 6)),
    ]:
        record = one(CORPUS / name)
        assert len(record.structure) == sizes[1]
        doc = doc_of(record, memory_settings)
        assert doc.reduced_formula == formula
        assert (doc.nsites, doc.input_nsites) == sizes
        assert len(doc.structure) == sizes[0]
        assert doc.structure.volume == pytest.approx(
            record.structure.volume * sizes[0] / sizes[1]
        )


def test_primitive_input_is_stored_as_written(memory_settings):
    record = one(CORPUS / "good_MgH2_rutile_structure.json")
    doc = doc_of(record, memory_settings)
    assert doc.structure == record.structure
    assert doc.input_nsites == doc.nsites == 6


def test_json_list_is_read_item_by_item(tmp_path):
    item = (CORPUS / "good_LiH_record.json").read_text().strip()
    path = tmp_path / "list.json"
    path.write_text("[" + item + ",\n" + item + ",\n" + item[: len(item) // 2])
    found = records(path)
    assert [r.error is None for r in found] == [True, True, False]
    assert found[2].input == f"{path}[2]"
    assert "broken JSON" in found[2].error


def test_unknown_text_names_what_is_read(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Sample 12, annealed at 300 C.\nMeasured on Monday.\n")
    (record,) = records(path)
    assert record.error.startswith("unrecognised file type: matforge reads CIF")
    assert "POSCAR" in record.error
    assert "extended XYZ" in record.error


def test_readers_are_generators():
    stream = read_paths([CORPUS])
    assert iter(stream) is stream
    first = list(islice(stream, 2))
    assert len(first) == 2
    frames = read_file(CORPUS / "good_RbH_eos_frames.extxyz")
    assert iter(frames) is frames
    assert next(frames).error is None


def test_reject_names_its_file(memory_settings):
    (record,) = records(CORPUS / "bad_vasp4_no_names.vasp")
    doc = document_from_record(record, "files", memory_settings, BuildMeta())
    assert isinstance(doc, RejectDoc)
    assert doc.file == str(CORPUS / "bad_vasp4_no_names.vasp")


@pytest.mark.parametrize(
    ("fmt", "name", "frames"),
    [
        ("castep-cell", "rbh.cell", 1),
        ("aims", "geometry.in", 1),
        ("xsf", "rbh.xsf", 1),
        ("res", "rbh.res", 1),
        ("gen", "rbh.gen", 1),
        ("proteindatabank", "rbh.pdb", 1),
        ("cfg", "rbh.cfg", 1),
        ("eon", "rbh.con", 1),
        ("dlp4", "CONFIG", 1),
        ("vasp-xdatcar", "XDATCAR", 2),
        ("vasp", "POSCAR_rbh", 1),
    ],
)
def test_formats_ase_writes_are_read_back(fmt, name, frames, tmp_path):
    import ase.io

    atoms = ase.io.read(CORPUS / "good_RbH_eos_frames.extxyz", index=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CASTEP looks for its keywords file
        ase.io.write(tmp_path / name, [atoms] * frames, format=fmt)
    found = records(tmp_path / name)
    assert [r.error for r in found] == [None] * frames
    for record in found:
        assert record.structure.composition.reduced_formula == "RbH"
        # PDB and some others round the cell to three decimals
        assert record.structure.volume == pytest.approx(atoms.get_volume(), rel=1e-3)


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("mcsqs", "rndstr.in"),
        ("yaml", "rbh.yaml"),
        ("pwmat", "atom.config"),
        ("cssr", "rbh.cssr"),
    ],
)
def test_formats_pymatgen_writes_are_read_back(fmt, name, tmp_path):
    from pymatgen.core import Lattice, Structure

    rbh = Structure(
        Lattice.from_parameters(4.28, 4.28, 4.28, 60, 60, 60),
        ["Rb", "H"],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )
    rbh.to(filename=str(tmp_path / name), fmt=fmt)
    record = one(tmp_path / name)
    assert record.structure.composition.reduced_formula == "RbH"
    assert record.structure.volume == pytest.approx(rbh.volume, rel=1e-3)


def test_lammps_data_is_refused_with_its_reason(tmp_path):
    import ase.io

    atoms = ase.io.read(CORPUS / "good_RbH_eos_frames.extxyz", index=0)
    ase.io.write(tmp_path / "data.rbh", atoms, format="lammps-data")
    (record,) = records(tmp_path / "data.rbh")
    assert record.error == (
        "lammps-data file not read: a LAMMPS data file names atom types, not elements"
    )


@pytest.mark.parametrize("chunk", [7, 100, 1 << 20])
def test_json_list_streams_across_chunks(chunk, tmp_path, monkeypatch):
    import json

    from matforge.data import files

    monkeypatch.setattr(files, "JSON_CHUNK", chunk)
    whole = records(CORPUS / "mixed_records_list.json")
    assert [r.error is None for r in whole] == [True, False, False, True]
    assert [r.material_id for r in whole] == ["corpus-PdH", None, None, "corpus-CsH"]

    item = (CORPUS / "good_LiH_record.json").read_text().strip()
    text = "[\n" + ",\n".join([item] * 3) + ",\n" + item.replace('"Li"', '"Li" "x"')
    path = tmp_path / "broken.json"
    path.write_text(text + "\n]")
    found = records(path)
    assert [r.error is None for r in found] == [True, True, True, False]
    with pytest.raises(json.JSONDecodeError) as exc:
        json.loads(text)
    expected = f"broken JSON at line {exc.value.lineno}, column {exc.value.colno}"
    assert found[3].error.startswith(expected)
    assert found[3].input == f"{path}[3]"
