"""Relax or evaluate structures with an ML potential, one by one or in batches.

Two engines, one result type:

- sequential: atomate2's ``AseRelaxer`` (the engine of ``ForceFieldRelaxMaker``
  and the force-field static makers): FIRE on a ``FrechetCellFilter``, every
  potential;
- batched: torch-sim's Frechet-cell FIRE with an in-flight batcher (converged
  structures leave the batch, waiting ones join) for SevenNet; batched single
  points through torch-sim (SevenNet) or ``CHGNet.predict_structure``.

Nothing is dropped: a structure whose evaluation raises, whose energy is not
finite, whose relaxation does not converge within ``steps`` or ends in a
collapsed or exploded cell comes back with ``error`` saying why. A batch that
raises is retried in halves, down to single structures, so one bad structure
fails alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pymatgen.core import Structure

from matforge.potentials.registry import (
    PotentialSpec,
    chgnet_model,
    load_calculator,
    load_torchsim_model,
)
from matforge.potentials.speedups import one_blas_thread

if TYPE_CHECKING:
    from matforge.settings import PotentialSettings

MIN_DISTANCE = 0.5
"""Closest approach (angstrom) below which a relaxed cell counts as collapsed."""
MAX_VOLUME_PER_ATOM = 150.0
"""Volume per atom (cubic angstrom) above which a relaxed cell counts as exploded."""
CHECK_EVERY = 1
"""Optimiser steps between convergence checks in a batched relaxation."""
RUNAWAY_FORCE = 1e5
"""Largest atomic force (eV/A) past which a batched relaxation is given up.

No physical structure comes near it (atoms 0.5 A apart give a few hundred
eV/A); a relaxation past it has run away from the potential's domain (atoms
pushed onto each other, forces of 1e8 eV/A a step later) and would spend its
remaining steps on a collapsed cell."""

OnResult = Callable[["RelaxResult"], None]


class _CallerError(Exception):
    """Carries an exception raised by an ``on_result`` callback past the retries."""


@dataclass
class RelaxResult:
    """The outcome of one relaxation or single point.

    ``error`` is None for a usable result; otherwise it says why the structure
    failed (and ``energy`` may still hold the last energy seen).
    """

    index: int
    input_structure: Structure
    structure: Structure
    energy: float | None
    max_force: float | None
    relaxed: bool
    converged: bool
    steps: int
    potential: str
    potential_version: str
    elapsed_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the energy can be used."""
        return self.error is None

    @property
    def energy_per_atom(self) -> float | None:
        """Energy per atom in eV, None when unknown."""
        return None if self.energy is None else self.energy / len(self.structure)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    return message if len(message) <= 200 else message[:200] + "..."


def structure_problem(structure: Structure) -> str | None:
    """Say why a relaxed structure is unphysical, or return None.

    Parameters
    ----------
    structure
        A relaxed structure.

    Returns
    -------
    str or None
        The problem: a collapsed (atoms closer than :data:`MIN_DISTANCE`) or
        exploded (volume per atom above :data:`MAX_VOLUME_PER_ATOM`) cell.
    """
    volume = structure.volume / len(structure)
    if not math.isfinite(volume) or volume > MAX_VOLUME_PER_ATOM:
        return f"the cell exploded ({volume:.1f} A^3 per atom)"
    closest = min(structure.lattice.abc)
    if len(structure) > 1:
        dist = structure.distance_matrix
        np.fill_diagonal(dist, np.inf)
        closest = min(closest, float(dist.min()))
    if closest < MIN_DISTANCE:
        return f"the cell collapsed (atoms {closest:.2f} A apart)"
    return None


def _finish(result: RelaxResult, fmax: float, steps: int) -> RelaxResult:
    """Turn a raw outcome into a checked one (errors for unusable results)."""
    if result.error is not None:
        return result
    if result.energy is None or not math.isfinite(result.energy):
        result.error = f"the potential returned a non-finite energy ({result.energy})"
    elif result.relaxed and not result.converged:
        force = "?" if result.max_force is None else f"{result.max_force:.3g}"
        result.error = (
            f"did not converge within {steps} steps (max atomic force {force} eV/A; "
            f"fmax {fmax:g} eV/A on atoms and cell)"
        )
        if problem := structure_problem(result.structure):
            result.error += f"; {problem}"
    elif result.relaxed and (problem := structure_problem(result.structure)):
        result.error = problem
    return result


def _failed(
    index: int, structure: Structure, spec: PotentialSpec, relax: bool, reason: str
) -> RelaxResult:
    return RelaxResult(
        index=index,
        input_structure=structure,
        structure=structure,
        energy=None,
        max_force=None,
        relaxed=relax,
        converged=False,
        steps=0,
        potential=spec.name,
        potential_version=spec.version,
        error=reason,
    )


# -- sequential: atomate2's AseRelaxer ------------------------------------------
def relax_sequential(
    structures: Sequence[Structure],
    spec: PotentialSpec,
    *,
    relax: bool = True,
    fmax: float = 0.05,
    steps: int = 300,
    relax_cell: bool = True,
    threads: int = 1,
    on_result: OnResult | None = None,
) -> list[RelaxResult]:
    """Relax (or evaluate) structures one at a time with atomate2's ASE relaxer.

    Parameters
    ----------
    structures
        The structures.
    spec
        The potential.
    relax
        Relax (FIRE, Frechet cell filter) or only evaluate.
    fmax
        Force convergence threshold, eV/A (cell forces included).
    steps
        Largest number of FIRE steps.
    relax_cell
        Relax the cell with the atoms.
    threads
        torch CPU threads.
    on_result
        Called with every result as soon as it is known.

    Returns
    -------
    list of RelaxResult
        One per input, in order.
    """
    from atomate2.ase.utils import AseRelaxer
    from atomate2.forcefields.utils import revert_default_dtype

    calc = load_calculator(spec, threads)
    relaxer = AseRelaxer(calc, optimizer="FIRE", relax_cell=relax_cell)
    results = []
    for index, structure in enumerate(structures):
        start = time.perf_counter()
        try:
            with revert_default_dtype(), one_blas_thread():
                out = relaxer.relax(
                    structure,
                    fmax=fmax,
                    steps=steps if relax else 1,
                    final_atoms_object_file=None,
                    use_emmet_models=False,
                )
            frames = out.trajectory.frame_properties
            forces = np.asarray(frames[-1]["forces"], dtype=float)
            result = RelaxResult(
                index=index,
                input_structure=structure,
                structure=out.final_mol_or_struct if relax else structure,
                energy=float(frames[-1]["energy"]),
                max_force=float(np.linalg.norm(forces, axis=1).max()),
                relaxed=relax,
                converged=bool(out.converged),
                steps=max(len(frames) - 1, 0) if relax else 0,
                potential=spec.name,
                potential_version=spec.version,
            )
        except Exception as exc:
            result = _failed(index, structure, spec, relax, _short(exc))
        result.elapsed_s = time.perf_counter() - start
        result = _finish(result, fmax, steps)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


# -- batched: torch-sim and CHGNet -----------------------------------------------
def _chunks_by_atoms(
    structures: Sequence[Structure], max_atoms: int, max_count: int | None = None
) -> list[list[int]]:
    """Split indices into consecutive chunks of at most ``max_atoms`` atoms."""
    chunks: list[list[int]] = []
    current: list[int] = []
    atoms = 0
    for i, structure in enumerate(structures):
        n = len(structure)
        full = max_count is not None and len(current) >= max_count
        if current and (atoms + n > max_atoms or full):
            chunks.append(current)
            current, atoms = [], 0
        current.append(i)
        atoms += n
    if current:
        chunks.append(current)
    return chunks


def _relax_torchsim(
    structures: Sequence[Structure],
    spec: PotentialSpec,
    *,
    fmax: float,
    steps: int,
    relax_cell: bool,
    batch_atoms: int,
    threads: int,
    report: Callable[[int, RelaxResult], None],
) -> None:
    """Relax with torch-sim's Frechet-cell FIRE and an in-flight batcher.

    Each structure's steps and convergence are tracked on its own: it leaves
    the batch when its forces (and cell forces) fall below ``fmax``, when it
    has used ``steps`` steps, when its energy is no longer finite, or when a
    force passes :data:`RUNAWAY_FORCE` (the relaxation ran away).
    """
    import torch
    import torch_sim as ts
    from torch_sim.autobatching import InFlightAutoBatcher

    model = load_torchsim_model(spec, threads)
    optimizer = ts.frechet_cell_fire if relax_cell else ts.fire
    init_fn, update_fn = optimizer(model=model)
    converged_fn = ts.generate_force_convergence_fn(
        force_tol=fmax, include_cell_forces=relax_cell
    )
    starts = {i: time.perf_counter() for i in range(len(structures))}
    state = ts.initialize_state(list(structures), model.device, model.dtype)
    singles = state.split()
    initialised = []
    for chunk in _chunks_by_atoms(structures, batch_atoms):
        batch = ts.concatenate_states([singles[i] for i in chunk])
        initialised.extend(init_fn(batch).split())
    largest = max(len(s) for s in structures)
    batcher = InFlightAutoBatcher(
        model,
        memory_scales_with="n_atoms",
        max_memory_scaler=float(max(batch_atoms, largest)),
        return_indices=True,
    )
    batcher.load_states(initialised)
    checks = [0] * len(structures)
    verdict: dict[int, bool] = {}
    runaway: dict[int, str] = {}
    state, _, current = batcher.next_batch(None, None)
    while state is not None:
        for _ in range(CHECK_EVERY):
            state = update_fn(state)
        done = converged_fn(state, None).clone()
        energies = state.energy.detach()
        largest_force = _largest_force_per_system(state)
        for pos, abs_idx in enumerate(current):
            checks[abs_idx] += 1
            if bool(done[pos]):
                verdict[abs_idx] = True
            elif float(largest_force[pos]) > RUNAWAY_FORCE:
                verdict[abs_idx] = False
                runaway[abs_idx] = (
                    f"the relaxation ran away (max atomic force "
                    f"{float(largest_force[pos]):.3g} eV/A after "
                    f"{checks[abs_idx] * CHECK_EVERY} steps; given up past "
                    f"{RUNAWAY_FORCE:g} eV/A)"
                )
                done[pos] = True
            elif (
                not bool(torch.isfinite(energies[pos]))
                or checks[abs_idx] * CHECK_EVERY >= steps
            ):
                verdict[abs_idx] = False
                done[pos] = True
        before = len(batcher.completed_idx_og_order)
        state, completed, current = batcher.next_batch(state, done)
        finished = batcher.completed_idx_og_order[before:]
        for abs_idx, single in zip(finished, completed, strict=True):
            forces = single.forces.detach()
            energy = float(single.energy.detach().reshape(-1)[0])
            result = RelaxResult(
                index=abs_idx,
                input_structure=structures[abs_idx],
                structure=single.to_structures()[0],
                energy=energy,
                max_force=float(forces.norm(dim=1).max()) if len(forces) else 0.0,
                relaxed=True,
                converged=verdict[abs_idx],
                steps=checks[abs_idx] * CHECK_EVERY,
                potential=spec.name,
                potential_version=spec.version,
                elapsed_s=time.perf_counter() - starts[abs_idx],
                error=runaway.get(abs_idx),
            )
            if result.error and (problem := structure_problem(result.structure)):
                result.error += f"; {problem}"
            report(abs_idx, _finish(result, fmax, steps))


def _largest_force_per_system(state: Any) -> Any:
    """Return each system's largest atomic force norm (a tensor, eV/A).

    Non-finite forces count as infinitely large.
    """
    import torch

    norms = state.forces.detach().norm(dim=1)
    norms = torch.nan_to_num(norms, nan=math.inf)
    largest = torch.zeros(state.n_systems, dtype=norms.dtype, device=norms.device)
    return largest.scatter_reduce(0, state.system_idx, norms, reduce="amax")


def _static_batch(
    structures: Sequence[Structure],
    spec: PotentialSpec,
    *,
    batch_size: int,
    threads: int,
) -> list[tuple[float, float]]:
    """Return (energy, max force) of every structure, evaluated together."""
    if spec.family == "chgnet":
        model = chgnet_model(spec, threads)
        preds = model.predict_structure(
            list(structures), task="ef", batch_size=batch_size
        )
        if isinstance(preds, dict):
            preds = [preds]
        return [
            (
                float(np.asarray(p["e"]).reshape(-1)[0]) * len(s),
                float(np.linalg.norm(np.asarray(p["f"]), axis=1).max()),
            )
            for p, s in zip(preds, structures, strict=True)
        ]
    import torch_sim as ts

    model = load_torchsim_model(spec, threads)
    props = ts.static(system=list(structures), model=model)
    return [
        (
            float(p["potential_energy"].reshape(-1)[0]),
            float(p["forces"].norm(dim=1).max()) if "forces" in p else math.nan,
        )
        for p in props
    ]


def relax_batched(
    structures: Sequence[Structure],
    spec: PotentialSpec,
    *,
    relax: bool = True,
    fmax: float = 0.05,
    steps: int = 300,
    relax_cell: bool = True,
    batch_size: int = 16,
    batch_atoms: int = 160,
    static_atoms: int = 96,
    threads: int = 1,
    on_result: OnResult | None = None,
) -> list[RelaxResult]:
    """Relax (or evaluate) structures in batches.

    Relaxations need a potential with ``batch_relax`` (SevenNet, torch-sim);
    single points one with ``batch_static`` (SevenNet, CHGNet). A batch that
    raises is retried in halves, down to single structures.

    Parameters
    ----------
    structures
        The structures.
    spec
        The potential.
    relax
        Relax or only evaluate.
    fmax, steps, relax_cell
        Convergence threshold (eV/A), largest number of steps per structure and
        whether the cell relaxes.
    batch_size
        Structures per CHGNet prediction batch.
    batch_atoms
        Atoms in flight at once (torch-sim).
    static_atoms
        Atoms evaluated together in single points (a structure larger than
        this goes alone): they bound the memory.
    threads
        torch CPU threads.
    on_result
        Called with every result as soon as it is known.

    Returns
    -------
    list of RelaxResult
        One per input, in order.
    """
    results: dict[int, RelaxResult] = {}

    def report(index: int, result: RelaxResult) -> None:
        result.index = index
        results[index] = result
        if on_result is not None:
            try:
                on_result(result)
            except Exception as exc:
                raise _CallerError from exc

    def run(indices: list[int]) -> None:
        subset = [structures[i] for i in indices]
        start = time.perf_counter()
        try:
            if relax:
                _relax_torchsim(
                    subset,
                    spec,
                    fmax=fmax,
                    steps=steps,
                    relax_cell=relax_cell,
                    batch_atoms=batch_atoms,
                    threads=threads,
                    report=lambda k, r: report(indices[k], r),
                )
                return
            values = _static_batch(subset, spec, batch_size=batch_size, threads=threads)
        except _CallerError:
            raise
        except Exception as exc:
            left = [i for i in indices if i not in results]
            if len(indices) > 1:  # halve until the structure that raises is alone
                half = max(len(left) // 2, 1)
                for part in (left[:half], left[half:]):
                    if part:
                        run(part)
            else:
                for i in left:
                    report(i, _failed(i, structures[i], spec, relax, _short(exc)))
            return
        elapsed = (time.perf_counter() - start) / len(subset)
        for i, (energy, force) in zip(indices, values, strict=True):
            result = RelaxResult(
                index=i,
                input_structure=structures[i],
                structure=structures[i],
                energy=energy,
                max_force=force,
                relaxed=False,
                converged=True,
                steps=0,
                potential=spec.name,
                potential_version=spec.version,
                elapsed_s=elapsed,
            )
            report(i, _finish(result, fmax, steps))

    if relax and not spec.batch_relax:
        raise ValueError(f"{spec.name} cannot relax in batches")
    if not relax and not spec.batch_static:
        raise ValueError(f"{spec.name} cannot evaluate in batches")
    # relaxations share one in-flight batch (a structure that finishes makes
    # room for the next); single points go in groups of at most static_atoms
    # atoms and batch_size * 8 structures
    groups = (
        [list(range(len(structures)))]
        if relax
        else _chunks_by_atoms(structures, static_atoms, max_count=batch_size * 8)
    )
    with one_blas_thread():
        try:
            for group in groups:
                run(group)
        except _CallerError as exc:  # the caller's own error, not a structure's
            raise exc.__cause__ from None
    return [results[i] for i in range(len(structures))]


def run_potential(
    structures: Sequence[Structure],
    spec: PotentialSpec,
    params: PotentialSettings,
    *,
    relax: bool = True,
    batched: bool | None = None,
    on_result: OnResult | None = None,
) -> list[RelaxResult]:
    """Relax or evaluate structures the way the settings say.

    Batched where the potential allows it and ``params.batched`` (or
    ``batched``) asks for it, one by one otherwise.

    Parameters
    ----------
    structures
        The structures.
    spec
        The potential.
    params
        The potential settings (fmax, steps, cell relaxation, batch sizes).
    relax
        Relax or only evaluate.
    batched
        Override ``params.batched``.
    on_result
        Called with every result as soon as it is known.

    Returns
    -------
    list of RelaxResult
        One per input, in order.
    """
    want_batch = params.batched if batched is None else batched
    able = spec.batch_relax if relax else spec.batch_static
    common: dict[str, Any] = {
        "relax": relax,
        "fmax": params.fmax,
        "steps": params.steps,
        "relax_cell": params.relax_cell,
        "threads": params.threads,
        "on_result": on_result,
    }
    if want_batch and able and len(structures) > 1:
        return relax_batched(
            structures,
            spec,
            batch_size=params.batch_size,
            batch_atoms=params.batch_atoms,
            static_atoms=params.static_atoms,
            **common,
        )
    return relax_sequential(structures, spec, **common)
