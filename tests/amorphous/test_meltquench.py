"""A tiny melt-quench MD run: a few atoms, a few steps, in seconds."""

from __future__ import annotations

import io

import numpy as np
import pytest
from ase.calculators.lj import LennardJones

from matforge.amorphous.meltquench import MeltQuenchSettings, run_melt_quench
from matforge.amorphous.packing import cell_composition, random_packing

TINY = MeltQuenchSettings(
    target_atoms=8,
    melt_steps=10,
    quench_step=1000.0,
    quench_steps=5,
    equilibration_steps=5,
    production_steps=30,
    traj_interval=2,
    n_blocks=3,
    volume_search_steps=10,
    time_step_fs=2.0,
)


def test_random_packing_keeps_atoms_apart() -> None:
    cell = random_packing("Li2O", 30, volume_per_atom=16.0, seed=4)
    assert cell.composition.reduced_formula == "Li2O"
    assert len(cell) == 30
    assert cell.volume == pytest.approx(480.0)
    dist = cell.distance_matrix + np.eye(len(cell)) * 99
    assert dist.min() >= 2.0 - 1e-9
    dense = random_packing("Li2O", 30, volume_per_atom=8.0, seed=4)
    closest = (dense.distance_matrix + np.eye(30) * 99).min()
    assert 1.0 < closest < 2.0  # the distance shrank to fit
    assert cell_composition("LiAlO2", 10).num_atoms == 12


def test_tiny_melt_quench_with_a_pair_potential() -> None:
    calc = LennardJones(sigma=2.0, epsilon=0.05, rc=5.0, smooth=True)
    lines: list[str] = []
    result = run_melt_quench(
        "Li2O", calc, [1000, 1500], {1000: 14.0, 1500: 15.0}, TINY, lines.append
    )
    assert result.n_atoms == 9
    assert [run.temperature for run in result.runs] == [1500.0, 1000.0]
    for run in result.runs:
        assert run.li_positions.shape == (16, 6, 3)  # 30 steps / 2 + 1 frames
        assert run.times_ps[1] == pytest.approx(0.004)
        assert run.fit.diffusivity > 0
        assert np.isfinite(run.kinetic_temperature).all()
        assert run.volume_per_atom in {14.0, 15.0}
        with np.load(io.BytesIO(run.to_npz()), allow_pickle=False) as data:
            assert data["li_positions"].shape == run.li_positions.shape
    assert result.runs[0].cell[0, 0] ** 3 == pytest.approx(15.0 * 9)
    assert result.arrhenius is not None
    assert np.isfinite(result.arrhenius.ea)
    assert result.wall_s_per_ps > 0
    assert any("1000 K" in line for line in lines)


def test_volume_search_without_a_volume() -> None:
    calc = LennardJones(sigma=2.0, epsilon=0.05, rc=5.0, smooth=True)
    result = run_melt_quench("LiF", calc, [1200], None, TINY)
    assert len(result.volume_search) == 3
    assert result.runs[0].volume_per_atom > 0
    assert result.arrhenius is None  # one temperature


def test_a_composition_without_li_is_refused() -> None:
    with pytest.raises(ValueError, match="no Li"):
        run_melt_quench("NaCl", None, [1000], 20.0, TINY)


@pytest.mark.potential
def test_tiny_melt_quench_with_sevennet() -> None:
    from matforge.potentials.registry import load_calculator, resolve_potential

    calc = load_calculator(resolve_potential("sevennet-0"))
    result = run_melt_quench("Li2O", calc, [2000, 1500], 14.0, TINY)
    assert [run.temperature for run in result.runs] == [2000.0, 1500.0]
    assert all(np.isfinite(run.fit.diffusivity) for run in result.runs)


def test_a_runaway_md_stops_with_a_clear_error() -> None:
    from ase.calculators.calculator import Calculator

    from matforge.amorphous.segment import MDInstabilityError

    class Broken(Calculator):
        implemented_properties = ("energy", "forces", "stress")

        def calculate(
            self,
            atoms: object = None,
            properties: object = None,
            system_changes: object = None,
        ) -> None:
            super().calculate(atoms, properties, system_changes)
            n = len(self.atoms)
            self.results = {
                "energy": 0.0,
                "forces": np.full((n, 3), np.nan),
                "stress": np.zeros(6),
            }

    with pytest.raises(MDInstabilityError, match="non-finite forces"):
        run_melt_quench("Li2O", Broken(), [1000], 15.0, TINY)


def test_bussi_holds_the_kinetic_temperature_of_a_small_cell() -> None:
    from matforge.amorphous.segment import Thermostat, run_segment

    calc = LennardJones(sigma=2.0, epsilon=0.05, rc=5.0, smooth=True)
    cell = random_packing("Li", 16, volume_per_atom=14.0, seed=3)
    target = 1500.0
    seg = run_segment(
        calc, cell, target, 3000, 2.0, Thermostat("bussi", tau_fs=20.0), 5, 2
    )
    temps = seg.temperatures[len(seg.temperatures) // 5 :]
    # 16 atoms hold their kinetic energy in 45 degrees of freedom; a 48-dof
    # target would run them 6.7 % hot
    assert temps.mean() == pytest.approx(target, rel=0.035)
    assert temps.std() / target == pytest.approx((2 / 45) ** 0.5, rel=0.3)


def test_kinetic_temperature_leaves_out_the_centre_of_mass() -> None:
    from ase import units

    from matforge.amorphous.segment import kinetic_temperature

    masses = np.array([1.0, 1.0])
    v = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])  # total momentum zero
    assert kinetic_temperature(masses, v) == pytest.approx(2.0 / (3 * units.kB))


def test_an_unknown_thermostat_is_refused() -> None:
    with pytest.raises(ValueError, match="nose"):
        MeltQuenchSettings(production_thermostat="nose")


def test_the_arrhenius_fit_uses_the_temperature_the_atoms_had() -> None:
    from matforge.amorphous.arrhenius import BOLTZMANN_EV
    from matforge.amorphous.meltquench import TemperatureRun, _arrhenius
    from matforge.amorphous.msd import MSDFit

    ea, d0 = 0.3, 50.0
    runs = []
    for target, had in ((2500.0, 2450.0), (2000.0, 1870.0)):
        d = d0 * np.exp(-ea / (BOLTZMANN_EV * had))
        runs.append(
            TemperatureRun(
                temperature=target,
                volume_per_atom=14.0,
                times_ps=np.arange(3.0),
                li_positions=np.zeros((3, 1, 3)),
                cell=np.eye(3),
                kinetic_temperature=np.full(3, had),
                fit=MSDFit(d, 0.05 * d, 0.01 * d, 0.1, 0.5, 1.0, 4),
                wall_s=1.0,
            )
        )
    fit = _arrhenius(runs)
    assert fit is not None
    assert fit.ea == pytest.approx(ea, rel=1e-9)  # with the targets: 0.38 eV
    assert runs[0].on_target
    assert not runs[1].on_target
