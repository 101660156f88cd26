"""One settings object for the whole platform.

Values come, highest priority first, from keyword arguments, ``MATFORGE_*``
environment variables (nested sections use ``__``, e.g.
``MATFORGE_STORE__URI``), the YAML file named by ``MATFORGE_CONFIG_FILE``
(default ``~/.matforge.yaml``) and the defaults below.

Example YAML file::

    home: /scratch/me/matforge
    store:
      uri: mongodb://db.example.org:27017
      database: hydrides
      username: me
      password: s3cret
    ingest:
      max_sites: 24
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from matforge.errors import ConfigError, DataNotFoundError

DEFAULT_CONFIG_FILE = Path("~/.matforge.yaml")

# The YAML file chosen for the settings object being built (``--config``).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("_CONFIG_FILE", default=None)


class StoreSettings(BaseModel):
    """Where the documents live."""

    uri: SecretStr | None = Field(
        default=None,
        description=(
            "Database URI. Unset: the embedded montydb database under `home`. "
            "`mongodb://...` or `mongodb+srv://...`: a MongoDB server (large bytes "
            "in GridFS). `memory://NAME`: an in-process store, for tests."
        ),
    )
    database: str = Field(default="matforge", description="Database name.")
    username: str | None = Field(
        default=None,
        description="MongoDB user name, used when the URI carries none.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="MongoDB password, used when the URI carries none. Never printed.",
    )
    timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Seconds to wait for a MongoDB server before giving up.",
    )


class IngestSettings(BaseModel):
    """Filters and paging of the ingest stage."""

    max_sites: int = Field(
        default=20, ge=1, description="Largest accepted number of sites in a cell."
    )
    min_distance: float = Field(
        default=0.5,
        gt=0,
        description="Smallest accepted interatomic distance, in angstrom.",
    )
    symprec: float = Field(
        default=0.1, gt=0, description="Symmetry tolerance (angstrom) for spglib."
    )
    mp_page_size: int = Field(
        default=1000,
        ge=1,
        le=10000,
        description="Documents per Materials Project page.",
    )


class ScoreSettings(BaseModel):
    """Parameters of the Hydrogen Storage Score's energy factor.

    ``f(E) = Phi((e_threshold - E) / sigma)``, with ``Phi`` the standard normal
    cumulative distribution and ``E`` the formation energy per atom (eV/atom):
    the probability that a formation energy known with a Gaussian uncertainty
    ``sigma`` lies below ``e_threshold``. The defaults are the minimax fit to the
    published table (every row within 0.00041 of the printed score).
    """

    e_threshold: float = Field(
        default=0.121,
        description="Formation energy (eV/atom) at which the energy factor is 1/2.",
    )
    sigma: float = Field(
        default=0.241,
        gt=0,
        description="Width (eV/atom) of the Gaussian over which the factor falls.",
    )


class GeneratorSettings(BaseModel):
    """Model size, training and sampling of the crystal generator."""

    hidden_dim: int = Field(default=64, ge=4, description="Width of features.")
    latent_dim: int = Field(default=32, ge=2, description="Size of the latent z.")
    num_layers: int = Field(
        default=3, ge=1, description="Interaction blocks of encoder and decoder."
    )
    cutoff: float = Field(default=4.5, gt=0, description="Neighbour cutoff, A.")
    max_atoms: int = Field(default=20, ge=1, description="Largest atom count.")
    num_noise_levels: int = Field(
        default=50, ge=1, description="Geometric noise levels of the diffusion."
    )
    beta: float = Field(default=0.01, ge=0, description="Weight of the KL loss.")
    epochs: int = Field(default=300, ge=1, description="Most training epochs.")
    quick_epochs: int = Field(
        default=5, ge=1, description="Epochs of `matforge train --quick`."
    )
    batch_size: int = Field(default=32, ge=1, description="Crystals per batch.")
    learning_rate: float = Field(default=1e-3, gt=0, description="Adam step size.")
    patience: int = Field(
        default=40, ge=1, description="Epochs without improvement before stopping."
    )
    seed: int = Field(default=0, description="Seed of split, weights and noise.")
    steps_per_level: int = Field(
        default=2, ge=1, description="Langevin steps per noise level."
    )
    step_lr: float = Field(default=1e-4, gt=0, description="Langevin step size.")
    sample_batch_size: int = Field(
        default=100, ge=1, description="Crystals decoded together."
    )
    guide_steps: int = Field(
        default=100, ge=1, description="Gradient steps on z with --guided."
    )
    guide_lr: float = Field(default=0.05, gt=0, description="Step size on z.")
    composition_temperature: float = Field(
        default=0.4,
        gt=0,
        description="Temperature of the composition head when atom types are "
        "drawn (CDVAE: 1; lower sharpens a composition blurred by little data).",
    )


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the optional YAML settings file."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path
        self._data = self._load()

    def _load(self) -> dict[str, Any]:
        explicit = self.path is not None
        path = self.path or Path(
            os.environ.get("MATFORGE_CONFIG_FILE", str(DEFAULT_CONFIG_FILE))
        )
        explicit = explicit or "MATFORGE_CONFIG_FILE" in os.environ
        path = path.expanduser()
        if not path.is_file():
            if explicit:
                raise ConfigError(f"settings file {path} does not exist")
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"settings file {path} is not valid YAML: {exc}") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(
                f"settings file {path} must hold a mapping of settings, "
                f"not a {type(data).__name__}"
            )
        return data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class MatforgeSettings(BaseSettings):
    """Every setting of matforge, grouped by stage."""

    model_config = SettingsConfigDict(
        env_prefix="MATFORGE_",
        env_nested_delimiter="__",
        extra="forbid",
        populate_by_name=True,
    )

    home: Path = Field(
        default=Path("~/.matforge"),
        description="Folder of the embedded database and of local artefacts.",
    )
    shared_data: Path | None = Field(
        default=None,
        description=(
            "Folder of the offline data snapshot. Unset: `../shared/data` beside "
            "the working directory or beside the source checkout."
        ),
    )
    mp_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "mp_api_key", "MATFORGE_MP_API_KEY", "MP_API_KEY"
        ),
        description="Materials Project API key (also read from MP_API_KEY).",
    )
    store: StoreSettings = Field(default_factory=StoreSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    score: ScoreSettings = Field(default_factory=ScoreSettings)
    ml: GeneratorSettings = Field(default_factory=GeneratorSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: arguments, environment, YAML file, defaults."""
        return (
            init_settings,
            env_settings,
            _YamlSource(settings_cls, _CONFIG_FILE.get()),
        )

    @property
    def home_dir(self) -> Path:
        """The home folder with ``~`` expanded (not created)."""
        return self.home.expanduser()

    def shared_data_dir(self) -> Path:
        """Return the offline data folder, or explain where it was looked for."""
        if self.shared_data is not None:
            candidates = [self.shared_data.expanduser()]
        else:
            repo_root = Path(__file__).resolve().parents[2]
            candidates = [
                Path.cwd() / ".." / "shared" / "data",
                repo_root.parent / "shared" / "data",
            ]
        for path in candidates:
            if path.is_dir():
                return path.resolve()
        tried = ", ".join(str(p) for p in candidates)
        raise DataNotFoundError(
            f"offline data folder not found (looked in {tried}); "
            "set MATFORGE_SHARED_DATA to the folder holding hydrides_seed.json.gz"
        )


def load_settings(
    config_file: str | Path | None = None, **overrides: Any
) -> MatforgeSettings:
    """Build the settings, optionally from a given YAML file.

    Parameters
    ----------
    config_file
        YAML file to read instead of ``MATFORGE_CONFIG_FILE`` / ``~/.matforge.yaml``.
    **overrides
        Values that win over every other source.

    Returns
    -------
    MatforgeSettings
        The validated settings.

    Raises
    ------
    ConfigError
        If the file cannot be read or a value is invalid.
    """
    token = _CONFIG_FILE.set(Path(config_file) if config_file is not None else None)
    try:
        return MatforgeSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    finally:
        _CONFIG_FILE.reset(token)
