"""DFT validation: GPAW here, atomate2 VASP workflows for clusters.

The functions here compute; they never open a store. See
:mod:`matforge.dft.gpaw` (GPAW parameters and atomate2 ASE makers),
:mod:`matforge.dft.runner` and :mod:`matforge.dft.worker` (each GPAW
calculation in its own process, under MPI), :mod:`matforge.dft.formation`
(elemental references and MP2020-compatible formation energies),
:mod:`matforge.dft.tasks` (results -> ``dft_tasks`` documents) and
:mod:`matforge.dft.vasp` (atomate2's MP workflows, FireWorks, task documents).
The stage that uses them is :mod:`matforge.flows.dft`.
"""
