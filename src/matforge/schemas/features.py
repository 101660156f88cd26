"""The feature vector of a hydride, input of the causal stage."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HydrideFeatures(BaseModel):
    """The documented feature vector of a hydride, used by the causal stage."""

    h_weight_fraction: float = Field(description="Hydrogen mass fraction (0-1).")
    h_atomic_fraction: float = Field(description="Fraction of the atoms that are H.")
    formation_energy_per_atom: float | None = Field(
        default=None, description="Formation energy, eV/atom (None when unknown)."
    )
    e_above_hull: float | None = Field(
        default=None, description="Energy above the convex hull, eV/atom."
    )
    storage_score: float | None = Field(
        default=None,
        description="Hydrogen Storage Score (None when E_form is unknown).",
    )
    crystal_system: str | None = Field(
        default=None, description="Crystal system from spglib (categorical)."
    )
    spacegroup_number: int | None = Field(
        default=None, description="International space-group number (1-230)."
    )
    volume_per_atom: float = Field(description="Cell volume per atom, A^3.")
    density: float = Field(description="Mass density, g/cm^3.")
    h_volumetric_density: float = Field(
        description="Hydrogen mass per volume, kg H / m^3 (volumetric capacity)."
    )
    nelements: int = Field(description="Number of distinct elements.")
    nsites: int = Field(description="Number of sites in the cell.")
    mean_electronegativity: float = Field(
        description="Atom-weighted mean Pauling electronegativity."
    )
    std_electronegativity: float = Field(
        description="Atom-weighted standard deviation of the Pauling electronegativity."
    )
    mean_metal_electronegativity: float = Field(
        description="Atom-weighted mean Pauling electronegativity of the metal atoms."
    )
    mean_atomic_mass: float = Field(description="Atom-weighted mean atomic mass, amu.")
    metal_h_ratio: float = Field(description="Metal atoms per hydrogen atom.")
    min_metal_h_distance: float | None = Field(
        default=None, description="Shortest metal-H distance, A."
    )
    min_h_h_distance: float | None = Field(
        default=None,
        description="Shortest H-H distance, A (None with one H per cell and no image).",
    )
