"""ML-potential energies: relaxations, static evaluations, formation energies.

The functions here compute; they never open a store. See
:mod:`matforge.potentials.registry` (which potentials, how they load),
:mod:`matforge.potentials.relax` (relax or evaluate structures, one by one
through atomate2's ASE relaxer or in batches) and
:mod:`matforge.potentials.energies` (MP2020-compatible formation energies and
energies above the hull).
"""
