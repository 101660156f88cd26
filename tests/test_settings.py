import pytest

from matforge.errors import ConfigError, DataNotFoundError
from matforge.settings import load_settings


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("MATFORGE_HOME")
    s = load_settings()
    assert str(s.home) == "~/.matforge"
    assert s.store.uri is None
    assert s.ingest.max_sites == 20
    assert s.ingest.min_distance == 0.5


def test_environment_with_nested_sections(monkeypatch):
    monkeypatch.setenv("MATFORGE_INGEST__MAX_SITES", "30")
    monkeypatch.setenv("MATFORGE_STORE__URI", "mongodb://u:pw@h:1")
    monkeypatch.setenv("MP_API_KEY", "k" * 32)
    s = load_settings()
    assert s.ingest.max_sites == 30
    assert s.store.uri.get_secret_value() == "mongodb://u:pw@h:1"
    assert s.mp_api_key.get_secret_value() == "k" * 32
    assert "pw" not in repr(s)
    assert "k" * 32 not in repr(s)


def test_yaml_file_below_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "m.yaml"
    cfg.write_text("home: /data/mf\ningest:\n  max_sites: 12\nstore:\n  database: h2\n")
    monkeypatch.setenv("MATFORGE_CONFIG_FILE", str(cfg))
    monkeypatch.setenv("MATFORGE_HOME", "/env/home")
    s = load_settings()
    assert s.ingest.max_sites == 12
    assert s.store.database == "h2"
    assert str(s.home) == "/env/home"  # the environment wins over the file
    assert (
        load_settings(tmp_path / "m.yaml", ingest={"max_sites": 3}).ingest.max_sites
        == 3
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("home: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "mapping"),
        ("ingest:\n  max_sites: -4\n", "ingest.max_sites"),
        ("colour: blue\n", "colour"),
    ],
)
def test_bad_yaml_files(tmp_path, text, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg)


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_shared_data_folder(tmp_path, shared_data):
    assert load_settings().shared_data_dir() == shared_data
    with pytest.raises(DataNotFoundError, match="MATFORGE_SHARED_DATA"):
        load_settings(shared_data=tmp_path / "missing").shared_data_dir()


def test_dft_section(monkeypatch):
    s = load_settings()
    assert (s.dft.code, s.dft.top_k, s.dft.ecut) == ("gpaw", 6, 600.0)
    assert (s.dft.kpoint_density, s.dft.smearing_width) == (4.0, 0.05)
    monkeypatch.setenv("MATFORGE_DFT__CODE", "vasp")
    monkeypatch.setenv("MATFORGE_DFT__MPI_PROCESSES", "4")
    s = load_settings()
    assert (s.dft.code, s.dft.mpi_processes) == ("vasp", 4)
    monkeypatch.setenv("MATFORGE_DFT__CODE", "cp2k")
    with pytest.raises(ConfigError, match=r"dft\.code"):
        load_settings()
