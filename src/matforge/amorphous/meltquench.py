"""Surrogate melt-quench MD of a composition with an ML potential.

The steps of MPMorph (random packing, optional volume search, melt, stepwise
quench, NVT production), each segment run by atomate2's
:class:`~atomate2.forcefields.md.ForceFieldMDMaker` (NVT, ASE) with the
calculator it is given (:func:`~matforge.amorphous.segment.run_segment`):
Langevin (strong friction) to melt, quench and equilibrate, and by default
Bussi's global velocity rescaling while D is recorded:

1. pack the atoms at random (:func:`~matforge.amorphous.packing.random_packing`)
   at the volume of the hottest production temperature, or at the zero-pressure
   volume a short NVT volume search finds at the melt temperature;
2. melt at ``melt_temperature``;
3. quench stepwise (``quench_step`` K per stage) to the hottest production
   temperature;
4. at each production temperature, hottest first (the quench goes on, held at
   each), rescale to that temperature's volume, equilibrate, then record; the
   Li positions are unwrapped and D fitted from their MSD
   (:func:`~matforge.amorphous.msd.fit_diffusivity`).

Velocities carry over from one segment to the next. Trajectories come back as
arrays (:class:`TemperatureRun`), never inside a document.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pymatgen.core import Composition, Element, Structure

from matforge.amorphous.arrhenius import Arrhenius, fit_arrhenius
from matforge.amorphous.msd import MSDFit, fit_diffusivity, unwrap
from matforge.amorphous.packing import random_packing
from matforge.amorphous.segment import THERMOSTATS, Thermostat, run_segment

TEMPERATURE_TOLERANCE = 0.05
"""Relative gap between a production run's mean kinetic and target temperature
beyond which the run is reported as off target."""


@dataclass(frozen=True)
class MeltQuenchSettings:
    """Every setting of a melt-quench MD run (stored with its results)."""

    target_atoms: int = 100
    melt_temperature: float = 3000.0
    melt_steps: int = 2500
    quench_step: float = 500.0
    quench_steps: int = 500
    equilibration_steps: int = 1000
    production_steps: int = 5000
    time_step_fs: float = 1.0
    """MPMorph's AIMD uses 2 fs; with SevenNet-0 a hot Li-Li pair then overshoots
    into the potential's short-range hole (a 25-atom Li4Zr cell at 2500 K blew
    up after 0.9 ps): 1 fs."""
    traj_interval: int = 5
    melt_friction_per_ps: float = 10.0
    """Langevin friction of melt, quench and equilibration (atomate2's default)."""
    production_thermostat: str = "bussi"
    """Thermostat while D is recorded: ``bussi`` (global rescaling, leaves the
    atoms' motion alone) or ``langevin`` (``production_friction_per_ps``). A weak
    Langevin friction (1/ps) let 32-atom cells drift 8-15 % off the target
    temperature over 2.5 ps; a strong one slows the diffusion."""
    production_tau_fs: float = 100.0
    """Time constant of the Bussi thermostat (fs)."""
    production_friction_per_ps: float = 1.0
    """Langevin friction while D is recorded, with ``production_thermostat:
    langevin`` (10/ps would slow a hot Li liquid)."""
    volume_search_steps: int = 500
    volume_search_scales: tuple[float, ...] = (0.85, 1.0, 1.15)
    n_blocks: int = 5
    fit_start_fraction: float = 0.1
    fit_end_fraction: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        """Reject settings that cannot make a run."""
        counts = {
            "target_atoms": self.target_atoms,
            "production_steps": self.production_steps,
            "traj_interval": self.traj_interval,
        }
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"{name} must be 1 or more, got {value}")
        if self.production_steps // self.traj_interval < 3 * self.n_blocks:
            raise ValueError(
                f"{self.production_steps} production steps recorded every "
                f"{self.traj_interval} give too few frames for {self.n_blocks} blocks"
            )
        if self.time_step_fs <= 0 or self.melt_temperature <= 0:
            raise ValueError("time step and melt temperature must be positive")
        if self.production_thermostat not in THERMOSTATS:
            raise ValueError(
                f"production_thermostat {self.production_thermostat!r} is not one "
                f"of {', '.join(THERMOSTATS)}"
            )

    @property
    def strong(self) -> Thermostat:
        """The Langevin thermostat of melt, quench and equilibration."""
        return Thermostat("langevin", friction_per_ps=self.melt_friction_per_ps)

    @property
    def production(self) -> Thermostat:
        """The thermostat of the recorded production runs."""
        return Thermostat(
            self.production_thermostat,
            friction_per_ps=self.production_friction_per_ps,
            tau_fs=self.production_tau_fs,
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as plain JSON values."""
        return asdict(self)


@dataclass
class TemperatureRun:
    """The production run at one temperature: Li trajectory and its D."""

    temperature: float
    volume_per_atom: float
    times_ps: NDArray[np.float64]
    li_positions: NDArray[np.float64]
    """Unwrapped Cartesian Li positions, (frames, Li atoms, 3), Å."""
    cell: NDArray[np.float64]
    kinetic_temperature: NDArray[np.float64]
    fit: MSDFit
    wall_s: float

    @property
    def duration_ps(self) -> float:
        """Length of the recorded run (ps)."""
        return float(self.times_ps[-1] - self.times_ps[0])

    @property
    def mean_temperature(self) -> float:
        """Mean kinetic temperature of the recorded frames (K)."""
        temps = self.kinetic_temperature[np.isfinite(self.kinetic_temperature)]
        return float(temps.mean()) if temps.size else float("nan")

    @property
    def fit_temperature(self) -> float:
        """The temperature D belongs to: the mean kinetic one, else the target.

        A cell of a few dozen atoms over a few ps samples its canonical
        energy distribution only roughly; its mean kinetic temperature can
        miss the thermostat's target by several per cent, and D is that of the
        temperature the atoms had.
        """
        mean = self.mean_temperature
        return mean if np.isfinite(mean) and mean > 0 else self.temperature

    @property
    def on_target(self) -> bool:
        """Whether the mean kinetic temperature is within tolerance of target."""
        gap = abs(self.mean_temperature - self.temperature) / self.temperature
        return bool(gap <= TEMPERATURE_TOLERANCE)

    def to_npz(self) -> bytes:
        """Return the trajectory arrays as ``.npz`` bytes (for the data store)."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            times_ps=self.times_ps,
            li_positions=self.li_positions.astype(np.float32),
            cell=self.cell,
            kinetic_temperature=self.kinetic_temperature,
        )
        return buffer.getvalue()


@dataclass
class MeltQuenchResult:
    """Everything a melt-quench run made."""

    formula: str
    settings: MeltQuenchSettings
    packed: Structure
    quenched: Structure
    runs: list[TemperatureRun]
    arrhenius: Arrhenius | None
    melt_wall_s: float
    volume_search: list[tuple[float, float]] = field(default_factory=list)
    """(volume per atom, mean pressure in GPa) of the volume search, if run."""

    @property
    def n_atoms(self) -> int:
        """Atoms in the cell."""
        return len(self.packed)

    @property
    def wall_s_per_ps(self) -> float:
        """Wall seconds per ps of production MD."""
        ps = sum(run.duration_ps for run in self.runs)
        return sum(run.wall_s for run in self.runs) / ps if ps > 0 else float("nan")


def estimate_volume_per_atom(composition: Composition | str) -> float:
    """Guess a dense volume per atom (Å^3) from atomic radii (packing 0.5)."""
    comp = Composition(composition)
    volume = sum(
        n * 4.0 / 3.0 * np.pi * float(Element(el.symbol).atomic_radius or 1.5) ** 3
        for el, n in comp.items()
    )
    return float(volume / comp.num_atoms / 0.5)


def _scaled(structure: Structure, volume_per_atom: float) -> Structure:
    out = structure.copy()
    out.scale_lattice(volume_per_atom * len(out))
    return out


def _search_volume(
    calculator: Any, structure: Structure, settings: MeltQuenchSettings
) -> tuple[float, list[tuple[float, float]]]:
    """Zero-pressure volume per atom at the melt temperature (linear P(V))."""
    v0 = structure.volume / len(structure)
    points = []
    for k, scale in enumerate(settings.volume_search_scales):
        seg = run_segment(
            calculator,
            _scaled(structure, v0 * scale),
            settings.melt_temperature,
            settings.volume_search_steps,
            settings.time_step_fs,
            settings.strong,
            settings.seed + 100 + k,
            max(1, settings.volume_search_steps // 20),
        )
        half = len(seg.pressures) // 2
        points.append((v0 * scale, float(np.mean(seg.pressures[half:]))))
    vols, pres = np.array(points).T
    slope, intercept = np.polyfit(vols, pres, 1)
    found = -intercept / slope if slope < 0 else v0
    return float(np.clip(found, 0.6 * v0, 1.6 * v0)), points


def _volume_map(
    temps: list[float], volumes_per_atom: Mapping[float, float] | float | None
) -> dict[float, float]:
    if isinstance(volumes_per_atom, Mapping):
        volume_of = {float(t): float(v) for t, v in volumes_per_atom.items()}
        missing = [t for t in temps if t not in volume_of]
        if missing:
            raise ValueError(f"no volume per atom for temperatures {missing}")
        return volume_of
    if volumes_per_atom is not None:
        return dict.fromkeys(temps, float(volumes_per_atom))
    return {}


def _melt_and_quench(
    calculator: Any, packed: Structure, hottest: float, settings: MeltQuenchSettings
) -> Structure:
    """Melt, then quench stepwise down to (not including) ``hottest``."""
    seg = run_segment(
        calculator,
        packed,
        settings.melt_temperature,
        settings.melt_steps,
        settings.time_step_fs,
        settings.strong,
        settings.seed,
        50,
    )
    stage, k = settings.melt_temperature - settings.quench_step, 1
    while stage > hottest:
        seg = run_segment(
            calculator,
            seg.structure,
            stage,
            settings.quench_steps,
            settings.time_step_fs,
            settings.strong,
            settings.seed + k,
            50,
        )
        stage, k = stage - settings.quench_step, k + 1
    return seg.structure


def _production(
    calculator: Any,
    structure: Structure,
    temperature: float,
    volume_per_atom: float,
    settings: MeltQuenchSettings,
    index: int,
) -> tuple[TemperatureRun, Structure]:
    """Equilibrate and record at one temperature; fit D of Li."""
    structure = _scaled(structure, volume_per_atom)
    if settings.equilibration_steps > 0:  # the strong friction of the quench
        structure = run_segment(
            calculator,
            structure,
            temperature,
            settings.equilibration_steps,
            settings.time_step_fs,
            settings.strong,
            settings.seed + 1000 + index,
            50,
        ).structure
    seg = run_segment(
        calculator,
        structure,
        temperature,
        settings.production_steps,
        settings.time_step_fs,
        settings.production,
        settings.seed + 2000 + index,
        settings.traj_interval,
    )
    li = [i for i, site in enumerate(seg.structure) if site.specie.symbol == "Li"]
    cell = np.asarray(seg.structure.lattice.matrix)
    positions = unwrap(seg.positions[:, li], cell)
    dt_ps = settings.time_step_fs * settings.traj_interval * 1e-3
    fit = fit_diffusivity(
        positions,
        dt_ps,
        settings.n_blocks,
        settings.fit_start_fraction,
        settings.fit_end_fraction,
    )
    run = TemperatureRun(
        temperature=temperature,
        volume_per_atom=volume_per_atom,
        times_ps=np.arange(len(positions)) * dt_ps,
        li_positions=positions,
        cell=cell,
        kinetic_temperature=seg.temperatures,
        fit=fit,
        wall_s=seg.wall_s,
    )
    return run, seg.structure


def _arrhenius(runs: list[TemperatureRun]) -> Arrhenius | None:
    """Fit D against each run's mean kinetic temperature (``fit_temperature``)."""
    usable = [r for r in runs if r.fit.diffusivity > 0]
    if len(usable) < 2:
        return None
    sigmas = [r.fit.std_error for r in usable]
    weighted = all(np.isfinite(s) and s > 0 for s in sigmas)
    return fit_arrhenius(
        [r.fit_temperature for r in usable],
        [r.fit.diffusivity for r in usable],
        sigmas if weighted else None,
    )


def run_melt_quench(
    composition: Composition | str,
    calculator: Any,
    temperatures: Sequence[float],
    volumes_per_atom: Mapping[float, float] | float | None = None,
    settings: MeltQuenchSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> MeltQuenchResult:
    """Make an amorphous cell of ``composition`` and fit Li D at each temperature.

    Parameters
    ----------
    composition
        The formula; it must hold Li.
    calculator
        The ASE calculator of the potential (e.g. from
        :func:`matforge.potentials.registry.load_calculator`).
    temperatures
        Production temperatures (K).
    volumes_per_atom
        Cell volume per atom (Å^3): one for all temperatures, one per
        temperature, or None to search the zero-pressure volume at the melt
        temperature (from :func:`estimate_volume_per_atom`).
    settings
        Steps, temperatures, thermostat and fit settings.
    progress
        Called with a line after each stage.

    Returns
    -------
    MeltQuenchResult
        Structures, per-temperature trajectories and D (Å^2/ps), the
        Arrhenius fit.
    """
    settings = settings or MeltQuenchSettings()
    comp = Composition(composition)
    if "Li" not in {el.symbol for el in comp.elements}:
        raise ValueError(f"{composition} has no Li: nothing to diffuse")
    temps = sorted({float(t) for t in temperatures}, reverse=True)
    if not temps or temps[-1] <= 0:
        raise ValueError(f"production temperatures must be positive: {temperatures}")
    volume_of = _volume_map(temps, volumes_per_atom)
    say = progress or (lambda _line: None)

    start_volume = volume_of.get(temps[0]) or estimate_volume_per_atom(comp)
    packed = random_packing(comp, settings.target_atoms, start_volume, settings.seed)
    search: list[tuple[float, float]] = []
    if not volume_of:
        found, search = _search_volume(calculator, packed, settings)
        volume_of = dict.fromkeys(temps, found)
        packed = _scaled(packed, found)
        say(f"volume search: {found:.2f} Å^3/atom")
    start = time.perf_counter()
    structure = _melt_and_quench(calculator, packed, temps[0], settings)
    melt_wall = time.perf_counter() - start
    quenched = structure.copy()
    say(f"melt and quench of {len(packed)} atoms: {melt_wall:.0f} s")
    runs = []
    for index, temperature in enumerate(temps):
        run, structure = _production(
            calculator, structure, temperature, volume_of[temperature], settings, index
        )
        runs.append(run)
        say(
            f"{temperature:.0f} K: D = {run.fit.diffusivity:.4g} Å^2/ps, "
            f"<T> = {run.mean_temperature:.0f} K ({run.wall_s:.0f} s)"
        )
        if not run.on_target:
            say(
                f"warning: {comp.reduced_formula} at {temperature:.0f} K ran at a mean "
                f"{run.mean_temperature:.0f} K, more than "
                f"{TEMPERATURE_TOLERANCE:.0%} off target; lengthen the run or "
                "the equilibration"
            )
    return MeltQuenchResult(
        formula=comp.reduced_formula,
        settings=settings,
        packed=packed,
        quenched=quenched,
        runs=runs,
        arrhenius=_arrhenius(runs),
        melt_wall_s=melt_wall,
        volume_search=search,
    )
