"""Reference phases: the offline reader and the mp-api path (recorded responses)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from mp_api.client import MPRester
from mp_api.client.core.client import _Rester
from pymatgen.core import Composition

from matforge.core.hull import HullCalculator
from matforge.core.phases import LEGACY, MP2020
from matforge.data.mp import MaterialsProjectAuthError
from matforge.data.phases import (
    MPPhaseCache,
    OfflinePhases,
    OfflineRow,
    PhaseDataError,
    fetch_mp_phases,
    hydride_phases,
    offline_phases,
    read_gas_references,
    read_offline_rows,
    reference_hull,
)
from matforge.errors import DataNotFoundError
from matforge.schemas.phase import PhaseDoc
from matforge.schemas.reject import RejectDoc

FIXTURE = Path(__file__).parent / "fixtures" / "mp_thermo_h_mg.json"
KEY = "Zq3xTESTKEYnot4realUSE0nly1nTest"
HOST = "https://api.materialsproject.org/"
THERMO = HOST + "materials/thermo/"
GAS = {"H": -3.392726045, "N": -8.336494925, "F": -1.9114789675, "Cl": -1.84853666}


def _write_csv(path: Path, text: str) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    return path


def test_reader_keeps_good_rows_and_rejects_bad_ones_with_reasons(tmp_path):
    path = _write_csv(
        tmp_path / "phases.csv.gz",
        "task_id,composition,formation_energy_per_atom\n"
        "mp-23710,MgH2,-0.2757\n"
        ",LiH,-0.4\n"
        "mp-2,Xx2O,-1.0\n"
        "mp-6,Fe((O,-1.0\n"
        "mp-3,FeO,nan\n"
        "mp-4,FeO,abc\n"
        "mp-23710,MgH2,-0.2\n"
        "mp-5,Fe3O4,-1.84\n",
    )
    items = list(read_offline_rows(path))
    rows = [i for i in items if isinstance(i, OfflineRow)]
    rejects = [i for i in items if isinstance(i, RejectDoc)]
    assert [r.material_id for r in rows] == ["mp-23710", "mp-5"]
    assert rows[0].composition == Composition("MgH2")
    assert rows[0].scheme == LEGACY
    reasons = {r.input: r.reason for r in rejects}
    assert set(reasons) == {f"phases.csv.gz:row {n}" for n in (2, 3, 4, 5, 6, 7)}
    assert reasons["phases.csv.gz:row 2"] == "no MP id"
    assert "'Xx2O' holds non-elements" in reasons["phases.csv.gz:row 3"]
    assert "unreadable composition 'Fe((O'" in reasons["phases.csv.gz:row 4"]
    assert "not a finite number" in reasons["phases.csv.gz:row 5"]
    assert "'abc'" in reasons["phases.csv.gz:row 6"]
    assert reasons["phases.csv.gz:row 7"] == "duplicate id mp-23710"
    assert all(r.stage == "phases" and r.source == "mp-offline" for r in rejects)


def test_reader_refuses_a_file_without_the_columns(tmp_path):
    path = _write_csv(tmp_path / "odd.csv.gz", "id,formula\nmp-1,Fe\n")
    with pytest.raises(PhaseDataError, match="task_id, composition"):
        list(read_offline_rows(path))
    with pytest.raises(DataNotFoundError, match="not found"):
        list(read_offline_rows(tmp_path / "missing.csv.gz"))


def test_offline_phases_move_on_demand_and_prefer_mp2020_rows():
    rows = [
        OfflineRow("mp-23710", Composition("MgH2"), -0.2757),
        OfflineRow("mp-23710", Composition("MgH2"), -0.2944, MP2020),
        OfflineRow("mp-1178232", Composition("FeO"), -1.6786),
        OfflineRow("mp-28015", Composition("H2O2"), -0.957),
        OfflineRow("mp-697111", Composition("H2O"), -1.3908),
    ]
    phases = OfflinePhases(rows, GAS)
    assert len(phases) == 4
    [mgh2] = phases.docs_in("H-Mg")[-1:]
    assert mgh2.formation_energy_per_atom == pytest.approx(-0.2944)
    assert mgh2.published_scheme == MP2020
    assert mgh2.scale_shift == 0
    docs = {d.material_id: d for d in phases.docs_in("Fe-H-O")}
    assert set(docs) == {"mp-1178232", "mp-28015", "mp-697111"}
    feo = docs["mp-1178232"]
    assert feo.published_scheme == LEGACY
    assert feo.correction_scheme == MP2020
    assert feo.formation_energy_per_atom == pytest.approx(-1.6786 + feo.scale_shift)
    assert feo.scale_shift_terms["U Fe"] == pytest.approx(0.477 / 2)
    peroxide = docs["mp-28015"]
    assert not peroxide.usable
    assert "anion H" in peroxide.excluded_reason
    assert {p.id for p in phases.phases_in("Fe-H-O")} == {"mp-1178232", "mp-697111"}
    assert phases.ids_with_formula("MgH2") == ("mp-23710",)


def test_hydride_documents_become_phases():
    docs = hydride_phases(
        [
            {
                "material_id": "mp-1",
                "formula": "Mg2H4",
                "formation_energy_per_atom": -0.29,
            },
            {
                "material_id": "mp-2",
                "formula": "LiH",
                "formation_energy_per_atom": None,
            },
        ]
    )
    [doc] = docs
    assert (doc.source, doc.formula, doc.reduced_formula) == (
        "hydrides",
        "Mg2H4",
        "MgH2",
    )
    assert doc.phase_id == "hydrides:mp-1"


def _shared() -> Path:
    """Return the shared data folder (MATFORGE_SHARED_DATA or ../shared/data)."""
    env = os.environ.get("MATFORGE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def shared_offline() -> OfflinePhases:
    """The offline phases, read once for the module (about 10 s)."""
    if not _shared().is_dir():
        pytest.skip(f"offline data folder {_shared()} not found")
    return offline_phases(_shared())


def _offline_hull(phases: OfflinePhases, chemsys: str) -> HullCalculator:
    """The hull of a system from the offline phases, the candidates' tolerances."""
    return HullCalculator(
        phases.index_for([chemsys]), stable_tolerance=0.025, metastable_threshold=0.2
    )


@pytest.mark.slow
def test_the_offline_files_are_read_once_and_whole(shared_offline):
    assert offline_phases(_shared()) is shared_offline
    assert not shared_offline.rejects
    # 84,295 compositions, plus the MP-20 ids the main file does not hold
    assert 84_295 < len(shared_offline) < 84_295 + 1_112
    assert "mp-24726" in shared_offline.ids_with_formula("TiH2")
    gas = read_gas_references(_shared() / "mp_elemental_references.json.gz")
    assert gas["H"] < -3.3


@pytest.mark.slow
def test_a_known_mp_hydride_lies_on_its_hull(shared_offline):
    """MgH2 mp-569051 at its MP2020 value: MP puts it 0.040 eV/atom above."""
    hull = _offline_hull(shared_offline, "H-Mg")
    result = hull.assess(Composition("Mg4H8"), -0.2539929108333337, "mp-569051")
    assert result.e_above_hull == pytest.approx(0.0404, abs=0.005)
    assert [d.formula for d in result.decomposition] == ["MgH2"]
    assert result.metastable
    # the ground state mp-23710 at MP's MP2020 value: on the moved offline hull
    ground = hull.assess(Composition("MgH2"), -0.2944)
    assert abs(ground.e_above_hull) < 0.005
    assert ground.stable
    # left out of its own hull, it lies below the next polymorph (mp-569051)
    alone = hull.assess(Composition("MgH2"), -0.2944, "mp-23710")
    assert alone.excluded_id == "mp-23710"
    assert alone.e_above_hull == pytest.approx(-0.0404, abs=0.001)
    assert [d.id for d in alone.decomposition] == ["mp-569051"]


@pytest.mark.slow
def test_an_oxide_hydride_lies_above_the_mp_phases_of_its_system(shared_offline):
    """TmFeHO: called 'stable, -0.761 eV/atom above its hull' without MP phases."""
    hull = _offline_hull(shared_offline, "Fe-H-O-Tm")
    result = hull.assess(Composition("TmFeHO"), -1.611)
    assert result.e_above_hull > 0.025
    assert not result.stable
    products = {d.formula for d in result.decomposition}
    assert "TmHO2" in products
    assert products <= {"TmHO2", "TmFe2", "TmH3", "Fe", "Tm", "FeO", "Fe3O4"}
    assert sum(d.fraction for d in result.decomposition) == pytest.approx(1.0)


# --- the Materials Project API, against recorded responses -------------------


@pytest.fixture
def recording() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(autouse=True)
def fresh_client() -> None:
    _Rester._get_heartbeat_info.cache_clear()
    MPRester.get_emmet_version.cache_clear()


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _thermo_matcher(request: Any) -> tuple[bool, str]:
    query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    systems = set(query.get("chemsys", "").split(","))
    ok = (
        systems == {"H", "Mg", "H-Mg"}
        and query.get("thermo_types") == "GGA_GGA+U"
        and set(query.get("_fields", "").split(",")) == {"entries", "thermo_type"}
    )
    return ok, "" if ok else f"unexpected thermo query {query}"


def _serve(api: responses.RequestsMock, recording: dict[str, Any]) -> None:
    api.get(HOST + "heartbeat", json=recording["heartbeat"])
    api.get(THERMO, json=recording["thermo"], match=[_thermo_matcher])


def _thermo_calls(api: responses.RequestsMock) -> list[Any]:
    return [c for c in api.calls if "/materials/thermo/" in c.request.url]


def test_mp_phases_carry_mps_mp2020_formation_energies(api, recording):
    _serve(api, recording)
    docs = {d.material_id: d for d in fetch_mp_phases(KEY, "Mg-H")}
    assert set(docs) == {"mp-24504", "mp-1056702", "mp-569051", "mp-23710"}
    assert docs["mp-569051"].formation_energy_per_atom == pytest.approx(
        -0.2539929108333337
    )
    assert docs["mp-23710"].formation_energy_per_atom == pytest.approx(-0.29437892)
    assert docs["mp-24504"].formation_energy_per_atom == pytest.approx(0.0)
    assert all(
        d.source == "mp-api" and d.published_scheme == MP2020 for d in docs.values()
    )
    [call] = _thermo_calls(api)
    assert call.request.headers["x-api-key"] == KEY
    assert KEY not in call.request.url
    hull = HullCalculator(
        [d.as_phase() for d in docs.values()],
        stable_tolerance=0.025,
        metastable_threshold=0.2,
    )
    result = hull.assess(Composition("MgH2"), -0.2539929108333337, "mp-569051")
    assert result.e_above_hull == pytest.approx(0.0403860108333331)  # MP's own


def test_the_cache_asks_once_per_system_and_serves_subsystems(api, recording, tmp_path):
    _serve(api, recording)
    cache = MPPhaseCache(lambda system: fetch_mp_phases(KEY, system), tmp_path)
    first = cache.docs_in("H-Mg")
    again = cache.docs_in(["Mg", "H"])
    magnesium = cache.docs_in("Mg")
    assert cache.requests == 1
    assert len(_thermo_calls(api)) == 1
    assert [d.material_id for d in again] == [d.material_id for d in first]
    assert [d.material_id for d in magnesium] == ["mp-1056702"]
    # a new process reads the folder instead of the API
    later = MPPhaseCache(
        lambda system: pytest.fail(f"asked the API for {system}"), tmp_path
    )
    assert len(later.phases_in("H-Mg")) == 4
    assert later.requests == 0


def test_a_damaged_cache_file_is_asked_again(api, recording, tmp_path):
    _serve(api, recording)
    (tmp_path / "H-Mg.json").write_text("{not json")
    cache = MPPhaseCache(lambda system: fetch_mp_phases(KEY, system), tmp_path)
    assert len(cache.docs_in("H-Mg")) == 4
    assert cache.requests == 1
    assert json.loads((tmp_path / "H-Mg.json").read_text())["chemsys"] == "H-Mg"


def test_no_key_and_bad_systems_are_refused_before_any_request(api):
    with pytest.raises(MaterialsProjectAuthError, match="MP_API_KEY"):
        fetch_mp_phases("  ", "H-Mg")
    with pytest.raises(ValueError, match="not an element"):
        fetch_mp_phases(KEY, "H-Qq")
    with pytest.raises(ValueError, match="more than 9"):
        fetch_mp_phases(KEY, "H-Li-Be-B-C-N-O-F-Na-Mg")
    assert not api.calls


def test_a_rejected_key_is_one_clear_error(api, recording):
    api.get(HOST + "heartbeat", json=recording["heartbeat"])
    api.get(THERMO, status=401, json={"detail": "invalid key"})
    with pytest.raises(MaterialsProjectAuthError) as excinfo:
        fetch_mp_phases(KEY, "H-Mg")
    assert "rejected the API key" in str(excinfo.value)
    assert KEY not in str(excinfo.value)


def test_the_reference_hull_joins_every_source_later_ones_winning():
    offline = OfflinePhases(
        [
            OfflineRow("mp-23710", Composition("MgH2"), -0.2757),
            OfflineRow("mp-1178232", Composition("FeO"), -1.6786),  # Fe-O: not needed
            OfflineRow("mp-1009077", Composition("FeH"), -0.059),
        ],
        GAS,
    )
    hydrides = [
        {
            "material_id": "gen-1",
            "formula": "Mg2FeH6",
            "formation_energy_per_atom": -0.3,
        },
        {
            "material_id": "mp-23710",
            "formula": "MgH2",
            "formation_energy_per_atom": -0.29,
        },
    ]
    asked: list[str] = []

    def fetch(system: str):
        asked.append(system)
        return [
            PhaseDoc.from_mp2020("mp-23710", Composition("MgH2"), -0.2944, "mp-api")
        ]

    hull = reference_hull(
        ["Fe-H-Mg", "H-Mg"],
        stable_tolerance=0.025,
        metastable_threshold=0.2,
        offline=offline,
        hydrides=hydrides,
        mp=MPPhaseCache(fetch),
    )
    phases = {p.id: p for p in hull.index}
    assert set(phases) == {"mp-23710", "mp-1009077", "gen-1"}
    assert phases["mp-23710"].e_form == pytest.approx(-0.2944)
    assert phases["mp-23710"].source == "mp-api"
    assert phases["gen-1"].source == "hydrides"
    assert asked == ["Fe-H-Mg"]  # H-Mg came from the larger system's answer
    result = hull.assess(Composition("Mg2FeH6"), -0.3, entry_id="gen-1")
    assert result.excluded_id == "gen-1"


def test_mp2020_formulas_keep_the_lowest_polymorph_and_skip_bad_lines(tmp_path, caplog):
    from matforge.data.phases import read_mp2020_formulas

    path = tmp_path / "formulas.txt"
    path.write_text(
        "Composition_Formula Ef\nHPd -0.141\nH2Pd2 -0.161\nnot-a-formula 1\nLiH nan\n\n"
    )
    with caplog.at_level("WARNING"):
        assert read_mp2020_formulas(path) == {"HPd": pytest.approx(-0.161)}
    assert "2 unreadable lines" in caplog.text
    assert "line 4" in caplog.text


def test_an_unmovable_legacy_hydride_takes_its_formulas_mp2020_value():
    # H and Pd are equally electronegative: whether MP2020's hydride correction
    # applies cannot be told from the composition (written H first, as in the
    # offline file), so the move is refused
    rows = [OfflineRow("mp-1184548", Composition("HPd"), -0.160, LEGACY)]
    plain = OfflinePhases(rows, GAS)
    assert not plain.docs_in("H-Pd")[0].usable
    priced = OfflinePhases(rows, GAS, mp2020_formulas={"HPd": -0.161})
    (doc,) = priced.docs_in("H-Pd")
    assert doc.usable
    assert doc.published_scheme == MP2020
    assert doc.formation_energy_per_atom == pytest.approx(-0.161)
    assert doc.phase_id == "mp-offline:mp-1184548"


@pytest.mark.slow
def test_palladium_hydride_is_on_the_offline_hull(shared_offline):
    """PdH, the classic storage hydride, was missing from every Pd-H hull."""
    hull = _offline_hull(shared_offline, "Ag-H-Pd")
    # a generated AgPdH2 that a hull without PdH called stable (0.015 above)
    result = hull.assess(Composition("AgPdH2"), -0.0205)
    assert result.e_above_hull == pytest.approx(0.060, abs=0.005)
    assert "HPd" in [d.formula for d in result.decomposition]
    assert not result.stable
