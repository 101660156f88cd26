"""Surrogate melt-quench MD (ML potential) beside the table's AIMD diffusivities.

For each composition of the table: random packing at the AIMD volume per atom
of the table (descriptor AAV at each temperature; ``--volume-search`` finds
the potential's own zero-pressure volume instead), melt, quench, then NVT at
each temperature; prints D of Li beside the AIMD value (ratio), the
activation energies, and the wall time per ps of MD. Each run's mean kinetic
temperature is printed beside its target ("<T> ok": within 5 %); the MD's
activation energy is fitted against those mean temperatures.

Full run: ``nice python bench/amorphous_md.py`` (3 compositions of ~50 atoms,
2500 and 2000 K, 1 fs steps: 31.5 ps of MD in all; at an estimated 100-130
wall s per ps for 50 atoms on 2 quiet cores, about 1-1.5 h; measured on busy
cores: 150-190 s per ps for 22-25 atoms on one thread; the bench prints its
own s/ps). Smoke run, numbers meaningless (16 atoms, 0.3 ps,
the fit window still ballistic): ``python bench/amorphous_md.py --smoke
--threads 1`` (about 3 min). On a busy machine pass ``--threads 1``: two torch
threads on two shared cores spin in OpenMP barriers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from matforge.amorphous.arrhenius import fit_arrhenius
from matforge.amorphous.meltquench import MeltQuenchSettings, run_melt_quench
from matforge.data.amorphous import read_shared_table
from matforge.potentials.registry import load_calculator, resolve_potential
from matforge.schemas.amorphous import A2_PS_TO_CM2_S
from matforge.settings import load_settings

DEFAULT_FORMULAS = ("Li3N", "Li4Zr", "LiAlO2")
"""A nitride ion conductor, a Li-rich intermetallic liquid, an oxide network."""


def settings_from(args: argparse.Namespace) -> MeltQuenchSettings:
    steps = 1000.0 / args.time_step  # steps per ps
    return MeltQuenchSettings(
        target_atoms=args.atoms,
        melt_temperature=args.melt_temperature,
        melt_steps=round(args.melt_ps * steps),
        quench_steps=round(args.quench_ps * steps),
        equilibration_steps=round(args.equil_ps * steps),
        production_steps=round(args.production_ps * steps),
        time_step_fs=args.time_step,
        traj_interval=args.interval,
        n_blocks=args.blocks,
        production_thermostat=args.thermostat,
        seed=args.seed,
    )


def table_rows(formulas: list[str]) -> dict[str, dict[float, dict]]:
    read = read_shared_table(load_settings().shared_data_dir())
    by_formula: dict[str, dict[float, dict]] = {}
    for doc in read.docs:
        by_formula.setdefault(doc.reduced_formula, {})[doc.temperature] = {
            "d_cm2_s": doc.diffusivity_cm2_s,
            "aav": doc.descriptors["AAV"],
        }
    missing = [f for f in formulas if f not in by_formula]
    if missing:
        raise SystemExit(f"not compositions of the table: {missing}")
    return {f: by_formula[f] for f in formulas}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formulas", nargs="+", default=list(DEFAULT_FORMULAS))
    parser.add_argument(
        "--temperatures", nargs="+", type=float, default=[2500.0, 2000.0]
    )
    parser.add_argument("--potential", default="sevennet-0")
    parser.add_argument("--threads", type=int, default=0, help="0: every core")
    parser.add_argument("--atoms", type=int, default=50)
    parser.add_argument("--melt-temperature", type=float, default=3000.0)
    parser.add_argument("--melt-ps", type=float, default=1.5)
    parser.add_argument("--quench-ps", type=float, default=0.5)
    parser.add_argument("--equil-ps", type=float, default=0.5)
    parser.add_argument("--production-ps", type=float, default=4.0)
    parser.add_argument("--time-step", type=float, default=1.0, help="fs")
    parser.add_argument("--interval", type=int, default=5, help="steps per frame")
    parser.add_argument(
        "--blocks",
        type=int,
        default=4,
        help="blocks of the D error; the fit window is 10-50 %% of a block",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--thermostat",
        choices=["bussi", "langevin"],
        default="bussi",
        help="production thermostat (langevin: friction 1/ps)",
    )
    parser.add_argument("--volume-search", action="store_true")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one composition, 16 atoms, 0.3 ps per temperature",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.smoke:
        args.formulas, args.atoms = args.formulas[:1], 16
        args.melt_ps, args.quench_ps, args.equil_ps, args.production_ps = (
            0.1,
            0.05,
            0.05,
            0.3,
        )
        args.interval = 2
    return args


def main() -> None:
    args = parse_args()
    settings = settings_from(args)
    rows = table_rows(args.formulas)
    spec = resolve_potential(args.potential)
    start = time.perf_counter()
    calc = load_calculator(spec, args.threads)
    print(
        f"potential {spec.name} ({spec.version}), loaded in "
        f"{time.perf_counter() - start:.0f} s; settings {settings.as_dict()}"
    )
    report = []
    for formula in args.formulas:
        aimd = rows[formula]
        temps = [t for t in args.temperatures if t in aimd]
        if len(temps) < len(args.temperatures):
            print(
                f"{formula}: the table lacks "
                f"{sorted(set(args.temperatures) - set(temps))} K"
            )
        volumes = None if args.volume_search else {t: aimd[t]["aav"] for t in temps}
        result = run_melt_quench(formula, calc, temps, volumes, settings, print)
        arr = result.arrhenius
        aimd_arr = fit_arrhenius(temps, [aimd[t]["d_cm2_s"] for t in temps])
        all_t = sorted(aimd)
        aimd_all = fit_arrhenius(all_t, [aimd[t]["d_cm2_s"] for t in all_t])
        print(
            f"\n{formula}: {result.n_atoms} atoms, melt+quench "
            f"{result.melt_wall_s:.0f} s, {result.wall_s_per_ps:.0f} wall s per ps"
        )
        print(
            f"{'T/K':>6s} {'<T>/K':>6s} {'V/atom':>7s} {'D_MD cm2/s':>12s} "
            f"{'+-':>9s} {'D_AIMD':>10s} {'MD/AIMD':>8s} {'window ps':>11s} "
            f"{'alpha':>6s} {'<T> ok':>6s}"
        )
        for run in result.runs:
            d_md = run.fit.diffusivity * A2_PS_TO_CM2_S
            d_ai = aimd[run.temperature]["d_cm2_s"]
            print(
                f"{run.temperature:6.0f} {run.mean_temperature:6.0f} "
                f"{run.volume_per_atom:7.2f} {d_md:12.3e} "
                f"{run.fit.std_error * A2_PS_TO_CM2_S:9.1e} {d_ai:10.3e} "
                f"{d_md / d_ai:8.2f} {run.fit.fit_start:5.2f}-{run.fit.fit_end:<5.2f} "
                f"{run.fit.exponent:6.2f} {'yes' if run.on_target else 'NO':>6s}"
            )
            report.append(
                {
                    "formula": formula,
                    "T": run.temperature,
                    "T_mean": run.mean_temperature,
                    "D_md": d_md,
                    "D_md_err": run.fit.std_error * A2_PS_TO_CM2_S,
                    "D_aimd": d_ai,
                    "ratio": d_md / d_ai,
                    "window_ps": [run.fit.fit_start, run.fit.fit_end],
                    "alpha": run.fit.exponent,
                    "wall_s_per_ps": run.wall_s / run.duration_ps,
                }
            )
        ea_md = f"{arr.ea:.3f} +- {arr.ea_std:.3f}" if arr else "-"
        print(
            f"Ea: MD {ea_md} eV; AIMD at these T {aimd_arr.ea:.3f} eV, "
            f"AIMD over {len(all_t)} T {aimd_all.ea:.3f} +- {aimd_all.ea_std:.3f} eV\n"
        )
        report.append(
            {
                "formula": formula,
                "Ea_md": arr.ea if arr else None,
                "Ea_md_err": arr.ea_std if arr else None,
                "Ea_aimd": aimd_arr.ea,
                "Ea_aimd_all": aimd_all.ea,
            }
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
