"""Documents of the amorphous Li-conductor campaign: table rows, models, MD.

Units: temperatures in K, energies in eV, times in ps, lengths in Å. Every
diffusion coefficient is stored in cm^2/s (``*_cm2_s``); the seed table's own
unit (``diff_coeff_mul_thousand`` = D in cm^2/s times 1000) is kept beside it
for comparison with the source (see :mod:`matforge.data.amorphous`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from matforge.schemas.common import BuildMeta, content_hash, utcnow

TABLE_D_FACTOR = 1.0e-3
"""cm^2/s per unit of the table's ``diff_coeff_mul_thousand`` (D x 1000)."""

A2_PS_TO_CM2_S = 1.0e-4
"""cm^2/s per Å^2/ps (1 Å^2/ps = 1e-16 cm^2 / 1e-12 s)."""

_V = "verified on every row of the table"
DESCRIPTOR_DESCRIPTIONS: dict[str, str] = {
    "AAV": "average atomic volume of the AIMD cell at this temperature (Å^3/atom)",
    "LBI": "mean bond ionicity of the bonds of Li (authors' ionicity measure)",
    "SDLI": "standard deviation over Li atoms of their bond ionicity",
    "SBI": "mean bond ionicity over every bond of the cell",
    "ENS": "mean Pauling electronegativity of the non-Li species "
    f"(equals avg_X_wiout_Li, {_V})",
    "RBI": f"LBI / SBI ({_V})",
    "AFC": "mean coordination number of the anion (framework) sites",
    "AASD": "mean shortest anion-anion distance (Å)",
    "VPA": "volume per anion (Å^3): AAV times atoms per anion of the formula "
    f"({_V}; the anion is the species taken as negatively charged)",
    "LASD": "mean shortest Li-anion distance (Å)",
    "LLSD": "mean shortest Li-Li distance (Å)",
    "LNC": "mean number of neighbours of a Li atom (authors' neighbour cutoff)",
    "SDLC": "standard deviation over Li atoms of their neighbour count",
    "LLB": "mean number of Li neighbours of a Li atom (Li-Li bonds)",
    "SNC": "mean number of neighbours over every atom of the cell",
    "RNC": f"LNC / SNC ({_V})",
    "PF": "packing fraction of the cell (atomic spheres / cell volume)",
    "SPF": "packing fraction of the non-Li sublattice",
    "SLPW": "Li-site descriptor of the authors (abbreviation kept; its exact "
    "definition cannot be recovered from the table)",
    "SLPW_pp": "variant of SLPW (authors' abbreviation kept; definition not "
    "recoverable from the table)",
    "SLPE": "Li-site descriptor of the authors (abbreviation kept; definition "
    "not recoverable from the table)",
    "Li_percentage": f"Li atom fraction of the formula, 0 to 1 ({_V})",
    "avg_B_with_Li": "composition-weighted mean elemental bulk modulus (GPa)",
    "avg_B_wiout_Li": "mean elemental bulk modulus of the non-Li species (GPa)",
    "avg_G_with_Li": "composition-weighted mean elemental shear modulus (GPa)",
    "avg_G_wiout_Li": "mean elemental shear modulus of the non-Li species (GPa)",
    "avg_Ecoh_with_Li": "composition-weighted mean elemental cohesive energy (eV/atom)",
    "avg_Echo_wiout_Li": "mean elemental cohesive energy of the non-Li species "
    "(eV/atom; `Echo` is the source's spelling)",
    "BR5_M_with_Li": f"sqrt(B R^5 / M) of the means B, R, M ({_V})",
    "BR5_M_without_Li": f"sqrt(B R^5 / M) of the non-Li means ({_V})",
    "GR5_M_with_Li": f"sqrt(G R^5 / M) of the means G, R, M ({_V})",
    "GR5_M_without_Li": f"sqrt(G R^5 / M) of the non-Li means ({_V})",
    "ER2_m_with_Li": f"sqrt(Ecoh R^2 / M) of the means ({_V})",
    "ER2_m_without_Li": f"sqrt(Ecoh R^2 / M) of the non-Li means ({_V})",
    "atomic_radius_avg": f"mean atomic radius (Å, pymatgen's; {_V})",
    "atomic_radius_avg_exclude_Li": f"mean atomic radius of the non-Li species "
    f"(Å; {_V})",
    "ratio_r_without_Li_with": f"atomic_radius_avg_exclude_Li / "
    f"atomic_radius_avg ({_V})",
    "avg_m_with_Li": f"mean atomic mass (u; {_V})",
    "avg_m_wiout_Li": f"mean atomic mass of the non-Li species (u; {_V})",
    "avg_X_with_Li": f"mean Pauling electronegativity ({_V})",
    "avg_X_wiout_Li": f"mean Pauling electronegativity of the non-Li species ({_V})",
    "avg_diff_of_X_Li_rest": f"avg_X_wiout_Li - avg_X_with_Li ({_V})",
}
"""The 42 descriptors of the seed table, in its column order, with meaning and
unit. Abbreviations are the authors'; where the table lets a definition be
checked (ratios, averages over the formula) it says so, the rest is read from
the names and the values (e.g. LASD near 1.8 Å in Li2O is a Li-O distance)."""

DESCRIPTOR_NAMES: tuple[str, ...] = tuple(DESCRIPTOR_DESCRIPTIONS)
"""Descriptor columns in table order (the model inputs besides temperature)."""


class AmorphousDiffusivityDoc(BaseModel):
    """One row of the seed table: Li diffusivity of a composition at one T."""

    entry_id: str = Field(
        description="Stable id `amorph-<reduced formula>-<T>K` (one per composition "
        "and temperature)."
    )
    formula: str = Field(description="The formula as the table writes it.")
    reduced_formula: str = Field(description="pymatgen's reduced formula.")
    elements: list[str] = Field(description="Element symbols, sorted.")
    li_fraction: float = Field(description="Li atom fraction of the formula.")
    temperature: float = Field(description="AIMD temperature (K).")
    diffusivity_cm2_s: float = Field(
        description="Li self-diffusion coefficient D from the AIMD mean squared "
        "displacement (cm^2/s) = table value x 1e-3."
    )
    ln_diffusivity: float = Field(
        description="ln of D in the table's unit (1e-3 cm^2/s), the SISSO target."
    )
    table_value: float = Field(
        description="The table's `diff_coeff_mul_thousand`: D in cm^2/s x 1000."
    )
    descriptors: dict[str, float] = Field(
        description="The 42 descriptors by name (meaning and unit: "
        "`DESCRIPTOR_DESCRIPTIONS`)."
    )
    row: int = Field(description="Data row number in the file (1 = first data row).")
    source_index: int | None = Field(
        default=None, description="The table's own index column (`Unnamed: 0`)."
    )
    source: str = Field(
        default="Zheng, Sivonxay et al., npj Comput. Mater. 2024, supplementary "
        "data (ab initio amorphous materials database)",
        description="Where the row comes from.",
    )
    licence: str = Field(
        default="not stated by the shared data README; the article is open "
        "access (npj Computational Materials, CC BY 4.0)",
        description="Licence of the source data, as far as it is known.",
    )
    origin: str = Field(description="The file the row was read from, and the row.")
    content_hash: str = Field(
        description="SHA-1 of formula, temperature, D and descriptors: re-ingesting "
        "an unchanged row leaves its document (and last_updated) alone."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the document last changed (UTC)."
    )

    @classmethod
    def make_id(cls, reduced_formula: str, temperature: float) -> str:
        """Return the entry id of a composition at a temperature."""
        return f"amorph-{reduced_formula}-{round(temperature):d}K"


class ModelMetrics(BaseModel):
    """Scores of a regression model, in the unit of its target."""

    test_r2: float = Field(description="R^2 on the held-out split.")
    test_mae: float = Field(description="Mean absolute error on the held-out split.")
    test_rmse: float = Field(description="Root mean squared error, held-out split.")
    cv_random_rmse: float | None = Field(
        default=None, description="RMSE of 5-fold CV over shuffled rows (pooled)."
    )
    cv_grouped_rmse: float | None = Field(
        default=None,
        description="RMSE of 5-fold CV grouped by composition (GroupKFold: no "
        "composition in train and test at once).",
    )
    n_train: int = Field(description="Rows used for fitting.")
    n_test: int = Field(description="Held-out rows.")


class AmorphousModelDoc(BaseModel):
    """A trained diffusivity model: configuration, weights key and scores."""

    model_id: str = Field(description="Unique id `amorph-<kind>-<target>-<hash>`.")
    kind: Literal["random_forest", "xgboost", "sisso"] = Field(
        description="Model family."
    )
    target: Literal["D", "lnD"] = Field(
        description="D in the table's unit (1e-3 cm^2/s) or its natural log."
    )
    features: list[str] = Field(description="Input columns, in order.")
    hyperparameters: dict[str, Any] = Field(
        description="Constructor arguments of the model (rebuild it from these)."
    )
    seed: int = Field(description="Seed of the split and of the model.")
    split: str = Field(
        description="How train and test were drawn (e.g. sklearn train_test_split, "
        "test_size 0.15, random_state 62, over table rows in file order)."
    )
    metrics: ModelMetrics = Field(description="Scores on the split and by CV.")
    feature_importances: dict[str, float] = Field(
        default_factory=dict,
        description="Impurity (RF) or total-gain (XGBoost) importance per "
        "feature, summing to 1; for SISSO the share of each term in the variance "
        "of the fit.",
    )
    formula: str | None = Field(
        default=None, description="For SISSO: the fitted expression."
    )
    coefficients: dict[str, float] | None = Field(
        default=None,
        description="For SISSO: the coefficient of each term (fitted on all rows).",
    )
    intercept: float | None = Field(
        default=None, description="For SISSO: the intercept (fitted on all rows)."
    )
    parity: dict[str, list[float]] | None = Field(
        default=None,
        description="Held-out points of the parity plot: `row` (table row index), "
        "`true` and `pred` in the target's unit.",
    )
    weights_blob: str | None = Field(
        default=None,
        description="Key (blob_uuid) of the weights in the data store: XGBoost's "
        "JSON model, or the forest's tree arrays as JSON (no pickles).",
    )
    table_hash: str = Field(description="SHA-1 of the training rows (ids and D).")
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the document last changed (UTC)."
    )

    @classmethod
    def make_id(cls, kind: str, target: str, payload: Any) -> str:
        """Return a model id from its kind, target and a hash of its settings."""
        return f"amorph-{kind}-{target}-{content_hash(payload)[:10]}"


class DiffusivityFit(BaseModel):
    """D from the linear regime of one Li MSD curve at one temperature."""

    temperature: float = Field(description="Thermostat temperature (K).")
    mean_temperature: float = Field(
        description="Mean kinetic temperature over the production run (K)."
    )
    diffusivity_cm2_s: float = Field(description="Li D = slope / 6 (cm^2/s).")
    diffusivity_std_cm2_s: float = Field(
        description="Standard error of D from block averaging (cm^2/s)."
    )
    fit_start_ps: float = Field(description="Start of the fitted lag window (ps).")
    fit_end_ps: float = Field(description="End of the fitted lag window (ps).")
    slope_std_err_cm2_s: float = Field(
        description="Least-squares standard error of slope/6 over the window "
        "(cm^2/s); correlated points make it an underestimate."
    )
    n_blocks: int = Field(description="Blocks of the block-average uncertainty.")
    n_li: int = Field(description="Li atoms averaged over.")
    duration_ps: float = Field(description="Length of the production run (ps).")
    time_step_fs: float = Field(description="MD time step (fs).")
    wall_s: float = Field(description="Wall time of the production run (s).")
    trajectory_blob: str | None = Field(
        default=None,
        description="Key (blob_uuid) of the unwrapped Li positions and times "
        "(npz) in the data store.",
    )


class ArrheniusFit(BaseModel):
    """D(T) = D0 exp(-Ea / kT) fitted to ln D over 1/kT."""

    ea_ev: float = Field(description="Activation energy (eV).")
    ea_std_ev: float = Field(description="Standard error of Ea (eV).")
    d0_cm2_s: float = Field(description="Prefactor D0 (cm^2/s).")
    ln_d0_std: float = Field(description="Standard error of ln D0.")
    temperatures: list[float] = Field(
        description="Temperatures of the fit (K): each run's mean kinetic "
        "temperature (the target where none was recorded)."
    )
    weighted: bool = Field(
        description="True when points were weighted by their D uncertainty."
    )


class AmorphousMDDoc(BaseModel):
    """A surrogate melt-quench MD run of one composition with an ML potential."""

    md_id: str = Field(description="Unique id `amorph-md-<formula>-<hash>`.")
    formula: str = Field(description="Reduced formula simulated.")
    n_atoms: int = Field(description="Atoms in the cell.")
    potential: str = Field(description="matforge name of the potential.")
    potential_version: str = Field(description="Package version and model.")
    seed: int = Field(description="Seed of packing and velocities.")
    settings: dict[str, Any] = Field(
        description="Melt, quench and production settings (temperatures, steps, "
        "time step, thermostat, volumes)."
    )
    volumes_per_atom: dict[str, float] = Field(
        description="Cell volume per atom used at each production temperature "
        "(Å^3/atom; key: temperature in K)."
    )
    fits: list[DiffusivityFit] = Field(description="D per temperature.")
    arrhenius: ArrheniusFit | None = Field(
        default=None, description="Arrhenius fit over the temperatures (2 or more)."
    )
    quench_structure_blob: str | None = Field(
        default=None,
        description="Key (blob_uuid) of the quenched cell (pymatgen JSON).",
    )
    wall_s_per_ps: float = Field(description="Wall seconds per ps of production MD.")
    build: BuildMeta = Field(
        default_factory=BuildMeta, description="How this document was made."
    )
    last_updated: datetime = Field(
        default_factory=utcnow, description="When the document last changed (UTC)."
    )
