"""Which universal ML potentials matforge knows, and how to load them.

Every potential is reached through atomate2's force-field interface
(``atomate2.forcefields.utils.ase_calculator`` with an ``MLFF`` name), the
same calculators atomate2's ``ForceFieldRelaxMaker`` and static makers use.

- ``sevennet-0`` (SevenNet-0, 11 Jul 2024) and ``sevennet-l3i5``: weights ship
  inside the ``sevenn`` wheel; batched relaxations run through torch-sim.
- ``chgnet`` (CHGNet 0.3.0): weights ship inside the ``chgnet`` wheel; batched
  static predictions through ``CHGNet.predict_structure``.
- ``m3gnet``, ``matpes-pbe``, ``matpes-r2scan`` (matgl 4.x): weights live on the
  Hugging Face hub; offline they load from a local model folder only.

A loaded potential is cached per process (loading takes seconds). SevenNet's
network is streamlined on load and the allocator tuned
(:mod:`matforge.potentials.speedups`; the numbers do not change).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import os
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from matforge.errors import MatforgeError
from matforge.settings import cpu_threads

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

Family = Literal["sevennet", "chgnet", "matgl"]


class PotentialError(MatforgeError):
    """A potential is unknown or its weights cannot be loaded."""


@dataclass(frozen=True)
class PotentialSpec:
    """What identifies a potential and how atomate2 builds its calculator.

    Parameters
    ----------
    name
        Our name of the potential (recorded on every result).
    family
        The package behind it.
    mlff
        atomate2's ``MLFF`` member name.
    model
        The model the package loads: a SevenNet checkpoint name, a CHGNet model
        version, a matgl hub name or a local folder.
    description
        One line for people.
    local
        True when the weights ship inside the installed wheel or folder.
    calculator_kwargs
        Keyword arguments of atomate2's ``ase_calculator``.
    checksum
        SHA-1 (first 12 digits) of the weights of a model folder.
    apply_mp2020
        True when the potential predicts *uncorrected* MP GGA(+U) energies, to
        which the MP2020 corrections are added before a formation energy is
        taken (SevenNet). False when its training energies already held them
        (CHGNet learned MPtrj's corrected energies) or they do not apply
        (r2SCAN).
    """

    name: str
    family: Family
    mlff: str
    model: str
    description: str
    local: bool = True
    calculator_kwargs: dict[str, Any] = field(default_factory=dict)
    checksum: str | None = None
    apply_mp2020: bool = True

    @property
    def package(self) -> str:
        """The Python distribution that computes the energies."""
        return {"sevennet": "sevenn", "chgnet": "chgnet", "matgl": "matgl"}[self.family]

    @property
    def version(self) -> str:
        """Package version and model, e.g. ``sevenn 0.12.1, model 7net-0``."""
        try:
            package_version = metadata.version(self.package)
        except metadata.PackageNotFoundError:
            package_version = "not installed"
        text = f"{self.package} {package_version}, model {self.model}"
        return text if self.checksum is None else f"{text} (sha1 {self.checksum})"

    @property
    def batch_relax(self) -> bool:
        """True when many structures relax at once (torch-sim)."""
        return self.family == "sevennet"

    @property
    def batch_static(self) -> bool:
        """True when many structures are evaluated at once."""
        return self.family in {"sevennet", "chgnet"}


POTENTIALS: dict[str, PotentialSpec] = {
    "sevennet-0": PotentialSpec(
        name="sevennet-0",
        family="sevennet",
        mlff="SevenNet",
        model="7net-0",
        description="SevenNet-0 (11 Jul 2024), trained on MPtrj; weights in sevenn",
        calculator_kwargs={"model": "7net-0"},
    ),
    "sevennet-l3i5": PotentialSpec(
        name="sevennet-l3i5",
        family="sevennet",
        mlff="SevenNet",
        model="7net-l3i5",
        description="SevenNet-l3i5 (lmax 3, 5 layers), MPtrj; weights in sevenn",
        calculator_kwargs={"model": "7net-l3i5"},
    ),
    "chgnet": PotentialSpec(
        name="chgnet",
        family="chgnet",
        mlff="CHGNet",
        model="0.3.0",
        description="CHGNet 0.3.0, trained on MPtrj's MP2020-corrected energies; "
        "weights in chgnet",
        calculator_kwargs={"stress_unit": "eV/A3"},
        apply_mp2020=False,
    ),
    "m3gnet": PotentialSpec(
        name="m3gnet",
        family="matgl",
        mlff="M3GNet",
        model="M3GNet-PES-MatPES-PBE-2025.2",
        description="M3GNet (matgl) on MatPES-PBE; weights from the hub",
        local=False,
    ),
    "matpes-pbe": PotentialSpec(
        name="matpes-pbe",
        family="matgl",
        mlff="MatPES-PBE",
        model="TensorNet-PES-MatPES-PBE-2025.2",
        description="TensorNet (matgl) on MatPES-PBE; weights from the hub",
        local=False,
    ),
    "matpes-r2scan": PotentialSpec(
        name="matpes-r2scan",
        family="matgl",
        mlff="MatPES-r2SCAN",
        model="TensorNet-PES-MatPES-r2SCAN-2025.2",
        description="TensorNet (matgl) on MatPES-r2SCAN; weights from the hub",
        local=False,
        apply_mp2020=False,
    ),
}
"""Every potential known by name."""

ALIASES: dict[str, str] = {
    "7net-0": "sevennet-0",
    "sevennet": "sevennet-0",
    "7net-l3i5": "sevennet-l3i5",
    "chgnet-0.3.0": "chgnet",
    "matpes": "matpes-pbe",
}
"""Other spellings of the names above (compared case-insensitively)."""

_MATGL_FILES = ("model.json", "model.pt", "state.pt")


def is_matgl_folder(path: str | Path) -> bool:
    """Return True when a folder holds a saved matgl model."""
    folder = Path(path).expanduser()
    return folder.is_dir() and all((folder / f).is_file() for f in _MATGL_FILES)


def _folder_checksum(folder: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    for name in _MATGL_FILES:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:12]


def resolve_potential(name: str, model_path: str | Path | None = None) -> PotentialSpec:
    """Return the specification of a potential named by a person.

    Parameters
    ----------
    name
        A name of :data:`POTENTIALS`, an alias, or a folder holding a saved matgl
        model.
    model_path
        Folder of a saved matgl model for the m3gnet / matpes potentials.

    Returns
    -------
    PotentialSpec
        The specification; for a local matgl folder its ``model`` is the folder.

    Raises
    ------
    PotentialError
        If the name is unknown or a model folder holds no saved matgl model.
    """
    if is_matgl_folder(name):
        folder = Path(name).expanduser().resolve()
        return PotentialSpec(
            name=f"matgl:{folder.name}",
            family="matgl",
            mlff="M3GNet",
            model=str(folder),
            description=f"matgl model saved in {folder}",
            checksum=_folder_checksum(folder),
        )
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in POTENTIALS:
        known = ", ".join(POTENTIALS)
        raise PotentialError(
            f"unknown potential {name!r}; known: {known}, or a folder holding a "
            "saved matgl model"
        )
    spec = POTENTIALS[key]
    if model_path is None:
        return spec
    if spec.family != "matgl":
        raise PotentialError(
            f"a model folder applies to the matgl potentials, not to {spec.name} "
            "(its weights ship in its wheel)"
        )
    if not is_matgl_folder(model_path):
        raise PotentialError(
            f"{model_path} does not hold a saved matgl model "
            f"({', '.join(_MATGL_FILES)})"
        )
    folder = Path(model_path).expanduser().resolve()
    return PotentialSpec(
        name=spec.name,
        family="matgl",
        mlff=spec.mlff,
        model=str(folder),
        description=f"{spec.description}; loaded from {folder}",
        checksum=_folder_checksum(folder),
        apply_mp2020=spec.apply_mp2020,
    )


_CACHE: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def set_threads(threads: int) -> None:
    """Set torch's CPU threads (0: every core this process may use)."""
    import torch

    threads = cpu_threads(threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _offline_message(spec: PotentialSpec, why: str) -> str:
    return (
        f"the {spec.name} weights ({spec.model}) do not ship with matgl and cannot "
        f"be downloaded here ({why}); download them where there is internet "
        f"(python -c \"import matgl; matgl.load_model('{spec.model}')\" saves "
        "them under ~/.cache/matgl), copy the model folder here and set "
        "potential.model_path (MATFORGE_POTENTIAL__MODEL_PATH or --model-path) or "
        "pass the folder as the potential name"
    )


def _matgl_calculator(spec: PotentialSpec) -> Calculator:
    from atomate2.forcefields.utils import revert_default_dtype

    local = spec.local or is_matgl_folder(spec.model)
    if not local and os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true"}:
        raise PotentialError(_offline_message(spec, "HF_HUB_OFFLINE is set"))
    import matgl
    from matgl.ext.ase import PESCalculator

    with revert_default_dtype():
        try:
            model = matgl.load_model(Path(spec.model) if local else spec.model)
        except Exception as exc:
            cause = exc.__cause__ or exc
            if not local:
                raise PotentialError(
                    _offline_message(spec, f"{type(cause).__name__}: {cause}"[:200])
                ) from None
            raise PotentialError(
                f"cannot load the matgl model in {spec.model}: {cause}"
            ) from None
    return PESCalculator(model, stress_unit="eV/A3")


def load_calculator(spec: PotentialSpec, threads: int = 1) -> Calculator:
    """Return the ASE calculator of a potential, loaded once per process.

    Parameters
    ----------
    spec
        The potential.
    threads
        torch CPU threads.

    Returns
    -------
    ase.calculators.calculator.Calculator
        The calculator from atomate2's force-field interface.

    Raises
    ------
    PotentialError
        If the weights cannot be loaded (for the hub potentials: offline).
    """
    set_threads(threads)
    key = ("ase", spec.name + "|" + spec.model)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        # SevenNet and CHGNet print banners on load: keep stdout for results
        with contextlib.redirect_stdout(io.StringIO()):
            if spec.family == "matgl":
                calc = _matgl_calculator(spec)
            else:
                from atomate2.forcefields.utils import MLFF, ase_calculator

                try:
                    calc = ase_calculator(MLFF(spec.mlff), **spec.calculator_kwargs)
                except Exception as exc:
                    raise PotentialError(f"cannot load {spec.name}: {exc}") from None
            if calc is None:
                raise PotentialError(f"atomate2 built no calculator for {spec.name}")
        from matforge.potentials.speedups import streamline, tune_allocator

        if spec.family == "sevennet":
            streamline(calc.model)
        tune_allocator()
        _CACHE[key] = calc
        return calc


def load_torchsim_model(spec: PotentialSpec, threads: int = 1) -> Any:
    """Return the torch-sim model of a potential that relaxes in batches.

    The SevenNet network is copied: torch-sim switches it to batched input,
    which the ASE calculator cannot read.

    Parameters
    ----------
    spec
        A potential with ``batch_relax``.
    threads
        torch CPU threads.

    Returns
    -------
    torch_sim.models.interface.ModelInterface
        The model, on the CPU.
    """
    if not spec.batch_relax:
        raise PotentialError(f"{spec.name} has no batched (torch-sim) relaxation")
    key = ("torchsim", spec.name + "|" + spec.model)
    calc = load_calculator(spec, threads)
    with _LOCK:
        if key not in _CACHE:
            from torch_sim.models.sevennet import SevenNetModel

            _CACHE[key] = SevenNetModel(model=copy.deepcopy(calc.model), device="cpu")
        return _CACHE[key]


def chgnet_model(spec: PotentialSpec, threads: int = 1) -> Any:
    """Return the CHGNet network behind the calculator (for batched predictions)."""
    if spec.family != "chgnet":
        raise PotentialError(f"{spec.name} is not CHGNet")
    return load_calculator(spec, threads).model


def clear_cache() -> None:
    """Forget the loaded potentials (tests)."""
    with _LOCK:
        _CACHE.clear()
