"""One NVT segment through atomate2's force-field MD maker, made safe for long runs.

:func:`run_segment` runs :class:`~atomate2.forcefields.md.ForceFieldMDMaker`
(Langevin NVT, ASE) with a calculator it is handed (not one built by name),
seeded, velocities carried in and out through the structure's ``velocities``
site property. The calculator sits behind :func:`wrapping`, which hands the
potential wrapped positions and stops a runaway run with
:class:`MDInstabilityError`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pymatgen.core import Structure

from matforge.errors import MatforgeError

EV_A3_TO_GPA = 160.21766208


MAX_FORCE = 500.0
"""eV/Å; a force beyond it means atoms have run into each other."""


class MDInstabilityError(MatforgeError):
    """The MD ran away: non-finite or runaway positions or forces."""


THERMOSTATS = ("langevin", "bussi")


@dataclass(frozen=True)
class Thermostat:
    """How an NVT segment holds its temperature.

    ``langevin``: a friction of ``friction_per_ps`` on every atom plus random
    kicks (strong coupling; slows diffusion by roughly D / (kT / m gamma)).
    ``bussi``: the kinetic energy is rescaled towards a canonical draw with
    time constant ``tau_fs`` (Bussi, Donadio, Parrinello, J. Chem. Phys. 126,
    014101, 2007); single-atom dynamics are left alone.
    """

    kind: str = "langevin"
    friction_per_ps: float = 10.0
    tau_fs: float = 100.0

    def __post_init__(self) -> None:
        """Refuse an unknown kind or a non-positive coupling."""
        if self.kind not in THERMOSTATS:
            raise ValueError(
                f"thermostat {self.kind!r} is not one of {', '.join(THERMOSTATS)}"
            )
        if self.friction_per_ps <= 0 or self.tau_fs <= 0:
            raise ValueError("thermostat friction and time constant must be positive")


@dataclass
class Segment:
    """One MD segment: final structure, positions, temperatures, pressures."""

    structure: Structure
    positions: NDArray[np.float64]
    temperatures: NDArray[np.float64]
    pressures: NDArray[np.float64]
    wall_s: float


@cache
def _wrapping_class() -> type:
    """Return an ASE calculator class that hands wrapped atoms to another."""
    from ase.calculators.calculator import Calculator, all_changes

    class WrappingCalculator(Calculator):
        """Evaluate ``inner`` on the atoms wrapped into the cell.

        ASE's MD never wraps positions; after a few ps a fast Li is several
        cells away, and neighbour lists (matscipy's, used by SevenNet) slow
        down by orders of magnitude. Energies, forces and stress do not
        change; the MD keeps its continuous positions.
        """

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner
            self.implemented_properties = list(inner.implemented_properties)

        def calculate(
            self,
            atoms: Any = None,
            properties: Sequence[str] = ("energy",),
            system_changes: Sequence[str] = tuple(all_changes),
        ) -> None:
            super().calculate(atoms, properties, system_changes)
            positions = self.atoms.get_positions()
            span = 1e4 * (1.0 + float(np.abs(self.atoms.cell.array).max()))
            if not np.all(np.isfinite(positions)) or np.abs(positions).max() > span:
                raise MDInstabilityError(
                    "the MD blew up (atoms at non-finite or runaway positions); "
                    "try a shorter time step or a lower melt temperature"
                )
            wrapped = self.atoms.copy()
            wrapped.wrap()
            self.inner.calculate(wrapped, list(properties), list(all_changes))
            self.results = dict(self.inner.results)
            forces = self.results.get("forces")
            if forces is not None and not np.all(np.isfinite(forces)):
                raise MDInstabilityError("the potential returned non-finite forces")
            if forces is not None and np.abs(forces).max() > MAX_FORCE:
                distances = wrapped.get_all_distances(mic=True)
                closest = float(np.min(distances + 1e9 * np.eye(len(wrapped))))
                raise MDInstabilityError(
                    f"forces of {np.abs(forces).max():.3g} eV/Å with two atoms "
                    f"{closest:.2f} Å apart: the MD ran into the potential's "
                    "short-range region; use a shorter time step"
                )

    return WrappingCalculator


def wrapping(calculator: Any) -> Any:
    """Return ``calculator`` behind a proxy that wraps positions into the cell."""
    return _wrapping_class()(calculator)


@cache
def _maker_class() -> type:
    """atomate2's force-field MD maker, running a calculator it is handed."""
    from atomate2.forcefields.md import ForceFieldMDMaker

    @dataclass
    class GivenCalculatorMDMaker(ForceFieldMDMaker):
        """``ForceFieldMDMaker`` whose calculator is given, not built by name."""

        given: Any = None

        def _get_calculator(self) -> Any:
            return self.given

    return GivenCalculatorMDMaker


@cache
def _bussi_class() -> type:
    """ASE's Bussi thermostat as atomate2's MD loop drives it.

    atomate2 sets the temperature of every step through ``set_temperature``,
    which ASE's ``Bussi`` lacks; and ASE counts 3N degrees of freedom, while the
    MD starts with zero total momentum, which velocity Verlet and the
    rescaling keep: the kinetic energy sits in 3N - 3 of them, so a 3N target
    runs a 32-atom cell 3 % hot.
    """
    from ase import units
    from ase.md.bussi import Bussi

    class MomentumFreeBussi(Bussi):
        """Bussi NVT on 3N - 3 degrees of freedom, its target settable."""

        def __init__(self, atoms: Any, timestep: float, **kwargs: Any) -> None:
            super().__init__(atoms, timestep, **kwargs)
            self.ndof = max(1, self.ndof - 3)
            self.target_kinetic_energy = 0.5 * self.temp * self.ndof

        def set_temperature(self, temperature_K: float) -> None:  # noqa: N803
            self.temp = temperature_K * units.kB
            self.target_kinetic_energy = 0.5 * self.temp * self.ndof

    return MomentumFreeBussi


def _md_options(thermostat: Thermostat, seed: int) -> tuple[Any, dict[str, Any]]:
    """atomate2's ``dynamics`` and ``ase_md_kwargs`` of a thermostat."""
    from ase import units

    rng = np.random.default_rng(seed)  # ASE's default is unseeded
    if thermostat.kind == "bussi":
        return _bussi_class(), {"taut": thermostat.tau_fs * units.fs, "rng": rng}
    return "langevin", {
        "friction": thermostat.friction_per_ps * 1e-3 / units.fs,
        "rng": rng,
    }


def kinetic_temperature(masses: NDArray[np.float64], velocities: Any) -> float:
    """Kinetic temperature (K) of atoms with zero total momentum.

    ``velocities`` in ASE units (Å per ASE time unit), ``masses`` in amu; the
    3 degrees of freedom of the centre of mass, held still, are not counted.
    """
    from ase import units

    v = np.asarray(velocities, dtype=float)
    kinetic = 0.5 * float(np.sum(masses[:, None] * v**2))
    dof = max(1, 3 * len(masses) - 3)
    return 2.0 * kinetic / (dof * units.kB)


def run_segment(
    calculator: Any,
    structure: Structure,
    temperature: float,
    steps: int,
    time_step_fs: float,
    thermostat: Thermostat,
    seed: int,
    interval: int,
) -> Segment:
    """Run one NVT segment with atomate2's force-field MD maker."""
    dynamics, md_kwargs = _md_options(thermostat, seed)
    maker = _maker_class()(
        given=wrapping(calculator),
        time_step=time_step_fs,
        n_steps=steps,
        ensemble="nvt",
        dynamics=dynamics,
        temperature=temperature,
        ase_md_kwargs=md_kwargs,
        traj_interval=interval,
        mb_velocity_seed=seed,
        zero_linear_momentum=True,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():  # ASE's note on Langevin(fixcm=True)
        warnings.filterwarnings("ignore", "The implementation of `fixcm=True`")
        result = maker._run_ase_safe(structure)  # the maker's own run, no job
    wall = time.perf_counter() - start
    trajectory = result.trajectory
    frames = trajectory.frame_properties or [{} for _ in trajectory.coords]
    lattice = np.asarray(trajectory.lattice, dtype=float)
    if lattice.ndim == 2:
        lattice = np.broadcast_to(lattice, (len(trajectory.coords), 3, 3))
    positions = np.einsum("fij,fjk->fik", np.asarray(trajectory.coords), lattice)
    final = result.final_mol_or_struct.copy()
    velocities = frames[-1].get("velocities")
    if velocities is not None:
        final.add_site_property("velocities", [list(v) for v in velocities])
    stress = np.array([np.ravel(f.get("stress", np.zeros(6)))[:3] for f in frames])
    pressures = -stress.mean(axis=1) * EV_A3_TO_GPA
    masses = np.array([site.specie.atomic_mass for site in final], dtype=float)
    temps = np.array(
        [
            kinetic_temperature(masses, f["velocities"])
            if f.get("velocities") is not None
            else np.nan
            for f in frames
        ]
    )
    return Segment(final, positions, temps, pressures, wall)
