"""GPAW through atomate2's ASE makers: calculator parameters and the makers.

GPAW (plane waves, PBE, PAW setups from the ``gpaw-data`` wheel) is the DFT
code that runs on any machine. The parameters here are JSON-able dicts, so a
calculation can be described in one process and run in another under MPI (see
:mod:`matforge.dft.runner`); the makers are atomate2's
:class:`~atomate2.ase.jobs.AseRelaxMaker` with a GPAW calculator, and their
output is atomate2's ``AseStructureTaskDoc``.

GPAW is an optional extra (``pip install -e ".[dft]"`` or ``./install.sh``);
nothing here imports it until a calculator is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atomate2.ase.jobs import AseRelaxMaker

from matforge.dft.availability import (
    INSTALL_HINT,
    DftError,
    gpaw_available,
    gpaw_version,
    require_gpaw,
)

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator
    from pymatgen.core import Structure

    from matforge.settings import DftSettings

__all__ = [
    "INSTALL_HINT",
    "DftError",
    "GpawRelaxMaker",
    "GpawStaticMaker",
    "gpaw_available",
    "gpaw_parameters",
    "gpaw_version",
    "require_gpaw",
]

MAGNETIC_ELEMENTS = ("Cr", "Mn", "Fe", "Co", "Ni")
"""Elements whose compounds are computed spin-polarised when spin is ``auto``."""


def spin_polarized(structure: Structure, mode: str) -> bool:
    """Return whether a structure is computed spin-polarised.

    Parameters
    ----------
    structure
        The structure.
    mode
        ``auto`` (when a magnetic 3d element is present), ``always`` or ``never``.
    """
    if mode == "always":
        return True
    if mode == "never":
        return False
    return any(el.symbol in MAGNETIC_ELEMENTS for el in structure.composition)


def initial_magmoms(structure: Structure) -> list[float]:
    """Return the Materials Project's initial magnetic moments of the sites."""
    from pymatgen.io.vasp.sets import MPRelaxSet

    table = MPRelaxSet.CONFIG["INCAR"]["MAGMOM"]
    return [float(table.get(site.specie.symbol, 0.6)) for site in structure]


def gpaw_parameters(
    settings: DftSettings, *, molecule: bool = False, spinpol: bool = False
) -> dict[str, Any]:
    """Return the keyword arguments of the GPAW calculator (JSON-able).

    Parameters
    ----------
    settings
        The ``dft`` settings: cut-off, k-point density, smearing.
    molecule
        A molecule in a box: the Gamma point only.
    spinpol
        Spin-polarised.

    Returns
    -------
    dict
        ``mode`` (plane waves at ``ecut``), ``xc`` (PBE), ``kpts`` (Gamma-centred
        at ``kpoint_density``), ``occupations`` (Fermi-Dirac), ``spinpol`` and
        ``txt`` (the text log, ``gpaw.txt`` in the working folder).
    """
    kpts: dict[str, Any] = (
        {"size": [1, 1, 1], "gamma": True}
        if molecule
        else {"density": settings.kpoint_density, "gamma": True}
    )
    return {
        "mode": {"name": "pw", "ecut": settings.ecut},
        "xc": "PBE",
        "kpts": kpts,
        "occupations": {"name": "fermi-dirac", "width": settings.smearing_width},
        "spinpol": spinpol,
        "txt": "gpaw.txt",
    }


@dataclass
class GpawRelaxMaker(AseRelaxMaker):
    """Relax a structure with GPAW (atomate2's ASE relaxation).

    ``calculator_kwargs`` are GPAW's keyword arguments (see
    :func:`gpaw_parameters`); the other fields are those of
    :class:`~atomate2.ase.jobs.AseRelaxMaker`. Under MPI every rank runs the
    same job; GPAW shares the work and writes its log on the first rank.

    Parameters
    ----------
    name
        Job name.
    steps
        Largest number of optimiser steps.
    relax_kwargs
        ``fmax`` and the other arguments of ``AseRelaxer.relax``.
    optimizer_kwargs
        ``optimizer`` (default BFGS: far fewer DFT steps than FIRE).
    """

    name: str = "GPAW relaxation"
    steps: int = 100
    relax_kwargs: dict = field(default_factory=lambda: {"fmax": 0.05})
    optimizer_kwargs: dict = field(default_factory=lambda: {"optimizer": "BFGS"})
    ionic_step_data: tuple[str, ...] | None = ("energy", "forces", "stress")

    def _get_calculator(self) -> Calculator:
        """Return a GPAW calculator with ``calculator_kwargs``."""
        require_gpaw()
        from gpaw import GPAW

        return GPAW(**self.calculator_kwargs)


@dataclass
class GpawStaticMaker(GpawRelaxMaker):
    """One GPAW single point (energy, forces, stress) of a structure.

    Parameters
    ----------
    name
        Job name.
    steps
        1: atomate2's relaxer then evaluates the structure as given.
    """

    name: str = "GPAW static"
    steps: int = 1
