"""One settings object for the whole platform.

Values come, highest priority first, from keyword arguments, ``MATFORGE_*``
environment variables (nested sections use ``__``, e.g.
``MATFORGE_STORE__URI``), the YAML file named by ``MATFORGE_CONFIG_FILE``
(default ``~/.matforge.yaml``) and the defaults below.

Example YAML file::

    home: /scratch/me/matforge
    store:
      uri: mongodb://db.example.org:27017
      database: hydrides
      username: me
      password: s3cret
    ingest:
      max_sites: 24
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from matforge.errors import ConfigError, DataNotFoundError

DEFAULT_CONFIG_FILE = Path("~/.matforge.yaml")

DEFAULT_TIERS: tuple[tuple[str, ...], ...] = (
    (
        "h_weight_fraction",
        "h_atomic_fraction",
        "nelements",
        "mean_electronegativity",
        "std_electronegativity",
        "mean_metal_electronegativity",
        "mean_atomic_mass",
        "metal_h_ratio",
    ),
    (
        "crystal_system",
        "spacegroup_number",
        "nsites",
        "volume_per_atom",
        "density",
        "h_volumetric_density",
        "min_metal_h_distance",
        "min_h_h_distance",
    ),
    ("formation_energy_per_atom", "e_above_hull"),
    ("storage_score",),
)
"""Hydride features by causal tier: composition -> structure -> energy -> score."""

LOCATION_FIELDS: tuple[str, ...] = (
    "home",
    "shared_data",
    "mp_api_key",
    "store",
    "launchpad",
)
"""Settings that say where things live (and hold secrets), not what is computed.

A job carries every other section with it (see :mod:`matforge.flows.stage`);
these it takes from the machine it runs on.
"""


def cpu_threads(threads: int) -> int:
    """Return a ``threads`` setting as a count (0: the cores this process may use)."""
    if threads > 0:
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# The YAML file chosen for the settings object being built (``--config``).
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("_CONFIG_FILE", default=None)


class StoreSettings(BaseModel):
    """Where the documents live."""

    uri: SecretStr | None = Field(
        default=None,
        description=(
            "Database URI. Unset: the embedded montydb database under `home`. "
            "`mongodb://...` or `mongodb+srv://...`: a MongoDB server (large bytes "
            "in GridFS). `memory://NAME`: an in-process store, for tests."
        ),
    )
    database: str = Field(default="matforge", description="Database name.")
    username: str | None = Field(
        default=None,
        description="MongoDB user name, used when the URI carries none.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="MongoDB password, used when the URI carries none. Never printed.",
    )
    timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Seconds to wait for a MongoDB server before giving up.",
    )


class IngestSettings(BaseModel):
    """Filters and paging of the ingest stage."""

    max_sites: int = Field(
        default=20, ge=1, description="Largest accepted number of sites in a cell."
    )
    min_distance: float = Field(
        default=0.5,
        gt=0,
        description="Smallest accepted interatomic distance, in angstrom.",
    )
    symprec: float = Field(
        default=0.1, gt=0, description="Symmetry tolerance (angstrom) for spglib."
    )
    workers: int = Field(
        default=0,
        ge=0,
        description="Processes that check and analyse records of long inputs "
        "(0: one per core, at most 4; 1: no worker processes).",
    )
    mp_page_size: int = Field(
        default=1000,
        ge=1,
        le=10000,
        description="Documents per Materials Project page.",
    )


class CandidateSettings(BaseModel):
    """Validity filters, structure matching and novelty of the candidates builder."""

    min_distance: float = Field(
        default=0.5,
        gt=0,
        description="Smallest accepted interatomic distance (angstrom) in a relaxed "
        "structure.",
    )
    require_converged: bool = Field(
        default=True, description="Leave out relaxations that did not converge."
    )
    charge_neutrality: bool = Field(
        default=True,
        description="Leave out compositions that no assignment of oxidation states "
        "makes neutral.",
    )
    oxidation_states: Literal["common", "icsd", "all"] = Field(
        default="all",
        description="Oxidation states tried by the neutrality check: pymatgen's "
        "common ones, those seen in the ICSD, or every known one.",
    )
    metallic_exempt: bool = Field(
        default=True,
        description="Count hydrides whose other elements are all metals as neutral "
        "(metallic bonding; PdH, intermetallic hydrides), as SMACT-style validity "
        "does for alloys.",
    )
    max_formation_energy_per_atom: float = Field(
        default=0.1,
        description="Largest accepted formation energy, eV/atom.",
    )
    max_e_above_hull: float = Field(
        default=0.2,
        ge=0,
        description="Largest accepted energy above the convex hull, eV/atom (an "
        "unknown one is accepted).",
    )
    stable_e_above_hull: float = Field(
        default=0.025,
        ge=0,
        description="Energy above the hull (eV/atom) up to which a candidate is "
        "flagged stable (about kT at room temperature).",
    )
    ltol: float = Field(
        default=0.2, gt=0, description="StructureMatcher fractional length tolerance."
    )
    stol: float = Field(
        default=0.3,
        gt=0,
        description="StructureMatcher site tolerance, as a fraction of the average "
        "free length per atom.",
    )
    angle_tol: float = Field(
        default=5.0, gt=0, description="StructureMatcher angle tolerance, degrees."
    )
    phases_include_mp20: bool = Field(
        default=True,
        description="Add the MP-20 sample's MP2020 formation energies to the "
        "competing phases of the hull (they replace the moved legacy values of the "
        "same ids).",
    )
    price_missing_phases: bool = Field(
        default=True,
        description="Before a campaign's crystals are judged, relax and price with "
        "the campaign's ML potential the known materials of their chemical systems "
        "(MP binaries of the references) that the offline phases have no energy "
        "for (about a fifth of MP's binaries: SrSe, SnO2, CeO2, MgO, ...), so that "
        "their hulls are not missing them (`computed_phases`).",
    )
    phases_from_mp: bool = Field(
        default=True,
        description="With an API key, add the Materials Project's MP2020 phases of "
        "each chemical system (mp-api, cached under <home>/cache/mp-phases) to the "
        "hull.",
    )
    references_file: str = Field(
        default="mp_binaries_reference.json.gz",
        description="Known materials loaded into `references` on first use, "
        "relative to the offline data folder (or absolute).",
    )

    def validity_rules(self) -> dict[str, Any]:
        """Return the rules of :func:`matforge.core.validity.candidate_problems`."""
        return {
            "min_distance": self.min_distance,
            "require_converged": self.require_converged,
            "charge_neutrality": self.charge_neutrality,
            "oxidation_states": self.oxidation_states,
            "metallic_exempt": self.metallic_exempt,
            "max_formation_energy_per_atom": self.max_formation_energy_per_atom,
            "max_e_above_hull": self.max_e_above_hull,
        }


class ScoreSettings(BaseModel):
    """Parameters of the Hydrogen Storage Score's energy factor.

    ``f(E) = Phi((e_threshold - E) / sigma)``, with ``Phi`` the standard normal
    cumulative distribution and ``E`` the formation energy per atom (eV/atom):
    the probability that a formation energy known with a Gaussian uncertainty
    ``sigma`` lies below ``e_threshold``. The defaults are the minimax fit to the
    published table (every row within 0.00041 of the printed score).
    """

    e_threshold: float = Field(
        default=0.121,
        description="Formation energy (eV/atom) at which the energy factor is 1/2.",
    )
    sigma: float = Field(
        default=0.241,
        gt=0,
        description="Width (eV/atom) of the Gaussian over which the factor falls.",
    )


class CausalSettings(BaseModel):
    """Causal discovery (FCI) over the hydride features."""

    target: str = Field(
        default="storage_score",
        description="Column whose causal neighbourhood is kept.",
    )
    test: Literal["fisherz", "kci", "chisq", "gsq"] = Field(
        default="fisherz",
        description="Conditional independence test: fisherz (linear-Gaussian), kci "
        "(kernel, slow), chisq or gsq (discrete data).",
    )
    alpha: float = Field(
        default=0.05, gt=0, lt=1, description="Significance level of every test."
    )
    depth: int = Field(
        default=-1,
        ge=-1,
        description="Largest conditioning set in the adjacency search (-1: no limit).",
    )
    bootstrap: int = Field(
        default=100,
        ge=0,
        description="Bootstrap resamples for edge stability (0: none).",
    )
    stability_threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of resamples in which a feature must be adjacent to the "
        "target to be selected.",
    )
    seed: int = Field(default=0, ge=0, description="Seed of the bootstrap resampling.")
    background_knowledge: bool = Field(
        default=True,
        description="Forbid edges from a later tier into an earlier one (`tiers`).",
    )
    tiers: list[list[str]] = Field(
        default_factory=lambda: [list(tier) for tier in DEFAULT_TIERS],
        description="Columns by causal tier, earliest first: composition, structure, "
        "energy, score. Columns in no tier are unconstrained.",
    )
    exclude: list[str] = Field(
        default_factory=lambda: ["spacegroup_number"],
        description="Hydride features left out (space-group number is a 230-level "
        "label; crystal_system is its coarse, encodable form).",
    )
    missing: Literal["drop_columns", "drop_rows"] = Field(
        default="drop_columns",
        description="What to do with a hydride feature missing in some rows (rows "
        "without the target are always dropped).",
    )
    collinearity_r2: float = Field(
        default=0.9999,
        gt=0,
        lt=1,
        description="R^2 on the columns before it above which a column is dropped "
        "as collinear.",
    )


class LaunchpadSettings(BaseModel):
    """FireWorks: the launchpad database and the queue of the cluster."""

    uri: SecretStr | None = Field(
        default=None,
        description="MongoDB URI of the FireWorks launchpad; unset: the store's "
        "MongoDB URI (FireWorks needs MongoDB).",
    )
    database: str = Field(
        default="matforge_fireworks", description="Database of the launchpad."
    )
    fworker: str = Field(default="matforge-worker", description="Name of the worker.")
    queue_system: Literal["slurm", "pbs"] = Field(
        default="slurm",
        description="Queue system of the cluster (both templates "
        "are written; this one is my_qadapter.yaml).",
    )
    queue: str | None = Field(default=None, description="Partition / queue name.")
    account: str | None = Field(default=None, description="Account to charge.")
    nodes: int = Field(default=1, ge=1, description="Nodes per queue job.")
    cores_per_node: int = Field(default=16, ge=1, description="Cores per node.")
    walltime: str = Field(default="24:00:00", description="Wall time per queue job.")
    pre_rocket: str | None = Field(
        default=None,
        description="Shell lines run before each rocket (e.g. module loads, "
        "activating the environment).",
    )


SAMPLING_FIELDS = frozenset(
    {
        "steps_per_level",
        "step_lr",
        "sampler",
        "sample_batch_size",
        "guide_steps",
        "guide_lr",
        "composition_temperature",
        "hydride_redraws",
        "composition",
        "decode_types",
        "diagnostic_crystals",
    }
)
"""Generator settings that shape sampling and evaluation, never the weights."""

EXECUTION_FIELDS = frozenset({"compile"})
"""Generator settings of how torch runs, not of what it computes: kept out of
the train stage's key, so switching them reuses a stored model (the weights
of a compiled training differ from an eager one's in float rounding only,
and the model id hashes the weights)."""


class GeneratorSettings(BaseModel):
    """Model size, training and sampling of the crystal generator (CDVAE)."""

    def training_dump(self) -> dict[str, Any]:
        """Return the settings that shape the trained model (no sampling ones).

        A model's id and the train stage's key hash these, so a campaign that
        samples an existing model differently reuses it.
        """
        return self.model_dump(exclude=set(SAMPLING_FIELDS | EXECUTION_FIELDS))

    hidden_dim: int = Field(default=128, ge=4, description="Width of features.")
    latent_dim: int = Field(default=64, ge=2, description="Size of the latent z.")
    num_layers: int = Field(
        default=3, ge=1, description="Interaction blocks of encoder and decoder."
    )
    cutoff: float = Field(default=7.0, gt=0, description="Neighbour cutoff, A.")
    max_neighbors: int | None = Field(
        default=20,
        ge=1,
        description="Nearest neighbours kept per atom in both graphs (CDVAE: 20; "
        "ties at the last distance are kept); None: every one within the cutoff.",
    )
    max_atoms: int = Field(default=20, ge=1, description="Largest atom count.")
    max_e_above_hull: float | None = Field(
        default=None,
        ge=0,
        description="Train only on hydrides at most this far above the hull, "
        "eV/atom (those of unknown distance kept), before the split: MP-20, "
        "CDVAE's data, holds only crystals within 0.08; None: every hydride (the "
        "paper's 450, of which 28 % lie more than 0.2 above the hull).",
    )
    detach_lattice: bool = Field(
        default=True,
        description="After teacher forcing, keep the denoising loss's gradient "
        "off the lattice head (the score network still sees the predicted "
        "lattice); False: CDVAE's, whose pull left predicted cells 24 % too "
        "large on the training crystals themselves.",
    )
    decoder: Literal["invariant", "equivariant"] = Field(
        default="equivariant",
        description="Blocks of the score network: messages that also carry "
        "vector features, so the score sees bond angles (equivariant; CDVAE's "
        "GemNet decoder is directional too), or distance-only messages "
        "(invariant: COV-R 0.711 against 0.856, uniqueness 0.786 against 0.846).",
    )
    encoder_composition: bool = Field(
        default=True,
        description="The encoder also reads each crystal's composition and atom "
        "count; False: CDVAE's, which pools atom features only (test atom counts "
        "right for 56 % of crystals, against 99 % with it).",
    )
    num_noise_levels: int = Field(
        default=50, ge=1, description="Geometric noise levels of the diffusion."
    )
    beta: float = Field(default=0.01, ge=0, description="Weight of the KL loss.")
    cost_composition: float = Field(
        default=10.0,
        ge=0,
        description="Weight of the composition head's loss (CDVAE: 1; 10 on "
        "these few hundred crystals keeps similar metals apart).",
    )
    canonical_cell: bool = Field(
        default=True,
        description="Read crystals in their Niggli-reduced cell rebuilt from its "
        "lattice parameters (CDVAE), so equivalent cells give the same inputs.",
    )
    epochs: int = Field(default=300, ge=1, description="Most training epochs.")
    pretrain_epochs: int = Field(
        default=40,
        ge=0,
        description="Most epochs of pre-training on the MP-20 sample before "
        "fine-tuning on the hydrides (0: no pre-training).",
    )
    pretrain_patience: int = Field(
        default=10, ge=1, description="Patience of the pre-training stage."
    )
    quick_epochs: int = Field(
        default=5, ge=1, description="Epochs of `matforge train --quick`."
    )
    batch_size: int = Field(default=16, ge=1, description="Crystals per batch.")
    learning_rate: float = Field(default=1e-3, gt=0, description="Adam step size.")
    min_learning_rate: float = Field(
        default=1e-4,
        gt=0,
        description="Floor of the learning rate, lowered by 0.6 on plateaus "
        "of the validation denoising loss (CDVAE: 1e-4).",
    )
    lr_patience: int = Field(
        default=10,
        ge=1,
        description="Epochs without a better validation denoising loss before "
        "the learning rate falls.",
    )
    patience: int = Field(
        default=40,
        ge=1,
        description="Epochs without a better validation denoising loss before "
        "stopping (never before teacher forcing ends).",
    )
    teacher_forcing_fraction: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Share of each stage's epochs in which the score network "
        "sees the true lattice; the predicted one afterwards (CDVAE: 500 of "
        "1000 epochs).",
    )
    val_repeats: int = Field(
        default=3,
        ge=1,
        description="Noise draws per validation crystal for model selection.",
    )
    seed: int = Field(default=0, description="Seed of split, weights and noise.")
    steps_per_level: int = Field(
        default=1,
        ge=1,
        description="Langevin steps per noise level (CDVAE's evaluation: 100).",
    )
    step_lr: float = Field(default=1e-4, gt=0, description="Langevin step size.")
    sampler: Literal["langevin", "ancestral"] = Field(
        default="langevin",
        description="How coordinates move down the noise levels: CDVAE's annealed "
        "Langevin dynamics (langevin), or the reverse-diffusion step of the "
        "variance-exploding chain that leaves the next level's noise, after "
        "steps_per_level - 1 Langevin steps (ancestral).",
    )
    sample_batch_size: int = Field(
        default=250, ge=1, description="Crystals decoded together."
    )
    guide_steps: int = Field(
        default=100, ge=1, description="Gradient steps on z with --guided."
    )
    guide_lr: float = Field(default=0.05, gt=0, description="Step size on z.")
    composition_temperature: float = Field(
        default=1.0,
        gt=0,
        description="Temperature of the composition head when atom types are "
        "decoded (CDVAE: 1; lower sharpens a blurred composition).",
    )
    hydride_redraws: int = Field(
        default=0,
        ge=0,
        description="Condition the decoded compositions on holding hydrogen and "
        "a metal, the platform's scope: drawn atoms of a crystal without both are "
        "drawn again up to this many times, the balanced decoding keeps only "
        "such compositions; 0: CDVAE's unconditioned draw.",
    )
    composition: Literal["cdvae", "balanced", "multinomial", "counts"] = Field(
        default="cdvae",
        description="How atom types are decoded from the heads: round p x N to "
        "counts and draw only the leftover atoms (cdvae, CDVAE's "
        "sample_composition), draw every atom independently (multinomial), draw "
        "a whole composition under charge balance (balanced) or round by "
        "largest remainder (counts).",
    )
    decode_types: bool = Field(
        default=True,
        description="Replace the atom types by the score network's argmax at "
        "every Langevin step (CDVAE); False keeps the decoded composition.",
    )
    threads: int = Field(
        default=0,
        ge=0,
        description="torch CPU threads while training, sampling and evaluating "
        "the generator; 0: every core this process may use (here two cores "
        "trained the default model 1.35 times faster than one); 1 suits a machine "
        "shared with other work, where two threads spin waiting for each other.",
    )
    compile: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Run the message-passing blocks through torch.compile "
        "(here sampling 4.2 and training 1.3 times faster; needs a C++ compiler, "
        "and falls back to eager with a warning): on, off, or auto, which "
        "compiles trainings of at least 1,000 optimiser steps and samplings of at "
        "least 10,000 crystal-steps, so quick runs skip the compile time.",
    )
    diagnostic_crystals: int = Field(
        default=90,
        ge=1,
        description="Training crystals reconstructed for the diagnostics (a "
        "seeded subset; the test split is reconstructed whole).",
    )


class RunSettings(BaseModel):
    """The discovery flow of `matforge run` and `matforge submit`."""

    run_id: str | None = Field(
        default=None,
        description="Id of the campaign on every document it writes; unset: a hash "
        "of the settings that shape it, so a re-run resumes the same campaign.",
    )
    num_samples: int = Field(
        default=1000, ge=1, description="Crystals the generator proposes."
    )
    quick_samples: int = Field(
        default=24, ge=1, description="Crystals proposed by `--quick`."
    )
    quick_bootstrap: int = Field(
        default=5, ge=0, description="Causal bootstrap resamples of `--quick`."
    )
    seed: int = Field(default=0, description="Seed of the sampling.")
    metrics: bool = Field(
        default=True, description="Compute and store the generator's metrics table."
    )
    potential: str = Field(
        default="sevennet-0",
        description="ML potential of a campaign's relax stage (a name as for "
        "`potential.name`); `matforge relax-generated --potential` overrides it.",
    )
    dft_validation: bool = Field(
        default=False, description="Validate the top candidates with DFT."
    )
    report_top: int = Field(
        default=10, ge=1, description="Rows of the report's candidates table."
    )


class PotentialSettings(BaseModel):
    """The universal ML potential and how it relaxes structures.

    One setting picks the potential for each purpose, and each command's
    ``--potential`` overrides its own: ``potential.name`` for ``matforge
    energy`` and ``matforge dataset calibrate``, ``run.potential`` for a
    campaign's relax stage (and ``matforge relax-generated``), and
    ``expand.potential`` for the dataset expansion. How fast and how accurate
    each potential is here: the README.
    """

    name: str = Field(
        default="sevennet-l3i5",
        description="Potential of `matforge energy` and `matforge dataset "
        "calibrate`: sevennet-l3i5, sevennet-0, chgnet (weights in their wheels), "
        "m3gnet, matpes-pbe, matpes-r2scan (matgl; need `model_path` offline), or a "
        "folder holding a saved matgl model.",
    )
    model_path: Path | None = Field(
        default=None,
        description="Folder of a saved matgl model (model.json, model.pt, state.pt) "
        "for the m3gnet / matpes potentials.",
    )
    fmax: float = Field(
        default=0.05,
        gt=0,
        description="Force (eV/A) and cell-force convergence threshold of a "
        "relaxation.",
    )
    steps: int = Field(
        default=300, ge=1, description="Largest number of optimiser steps."
    )
    relax_cell: bool = Field(
        default=True, description="Relax the cell (shape and volume) with the atoms."
    )
    batched: bool = Field(
        default=True,
        description="Relax and evaluate many structures at once where the potential "
        "allows it (SevenNet through torch-sim, CHGNet predictions).",
    )
    batch_size: int = Field(
        default=16,
        ge=1,
        description="Structures per batch: CHGNet predictions, and how many the "
        "dataset expansion hands the potential at a time.",
    )
    batch_atoms: int = Field(
        default=160,
        ge=1,
        description="Atoms in flight at once in a batched (torch-sim) relaxation.",
    )
    static_atoms: int = Field(
        default=96,
        ge=1,
        description="Atoms evaluated together in batched single points (SevenNet "
        "through torch-sim): the peak memory grows with them (sevennet-l3i5: about "
        "0.7 GB + 16 MB per atom), the speed hardly past a hundred.",
    )
    threads: int = Field(
        default=0,
        ge=0,
        description="torch CPU threads; 0: every core this process may use; 1 "
        "suits a machine shared with other work.",
    )


class ExpandSettings(BaseModel):
    """Dataset expansion by chemical substitution of the real hydrides."""

    target: int = Field(
        default=450, ge=1, description="Hydrides wanted in the collection."
    )
    potential: str = Field(
        default="sevennet-0",
        description="ML potential that relaxes the proposals (a name as for "
        "`potential.name`); `matforge dataset expand --potential` overrides it.",
    )
    pools: list[str] = Field(
        default_factory=lambda: [
            "alkali",
            "alkaline_earth",
            "transition_metals",
            "rare_earths",
            "Al",
            "B",
            "Si",
            "N",
        ],
        description="Element pools a substituting element is taken from: alkali, "
        "alkaline_earth, transition_metals (3d-5d), rare_earths, or element "
        "symbols.",
    )
    min_probability: float = Field(
        default=1e-3,
        gt=0,
        lt=1,
        description="Smallest substitution probability (pymatgen's "
        "SubstitutionProbability of two ions of equal charge) accepted.",
    )
    per_parent: int = Field(
        default=12, ge=1, description="Most proposals made from one parent."
    )


class DftSettings(BaseModel):
    """DFT validation of the top candidates: the code and its parameters.

    The GPAW defaults are converged for hydrides (``bench/dft_known_hydrides.py``;
    the figures are in the README).
    """

    code: Literal["gpaw", "vasp"] = Field(
        default="gpaw",
        description="gpaw: run GPAW here (plane waves, PBE); vasp: build atomate2 "
        "VASP workflows with Materials Project input sets for a cluster.",
    )
    top_k: int = Field(
        default=6, ge=1, description="Best-ranked candidates validated per run."
    )
    ecut: float = Field(
        default=600.0, gt=0, description="GPAW plane-wave cut-off energy, eV."
    )
    kpoint_density: float = Field(
        default=4.0,
        gt=0,
        description="GPAW k-points per inverse angstrom along each reciprocal "
        "vector (ASE's `kpts={'density': ...}`, 2 pi included), Gamma-centred.",
    )
    smearing_width: float = Field(
        default=0.05, gt=0, description="Fermi-Dirac smearing width, eV."
    )
    spin_polarized: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Spin-polarised calculations: auto (when Cr, Mn, Fe, Co or Ni "
        "is present, with MP's initial moments), always or never.",
    )
    relax: bool = Field(
        default=True,
        description="Relax each structure with DFT before taking its energy; False: "
        "single points of the ML-relaxed candidates and the MP references.",
    )
    relax_cell: bool = Field(
        default=True,
        description="Relax the cell with the atoms (a molecular H2 reference only "
        "ever relaxes its atoms).",
    )
    fmax: float = Field(
        default=0.05,
        gt=0,
        description="Force (eV/A) and cell-force convergence of a DFT relaxation.",
    )
    steps: int = Field(
        default=100, ge=1, description="Largest number of DFT relaxation steps."
    )
    optimizer: str = Field(
        default="BFGS",
        description="ASE optimiser of the relaxation (atomate2's AseRelaxer names).",
    )
    small_reference_cells: bool = Field(
        default=True,
        description="Compute the references of Na, K, Rb, Cs (bcc), Se (trigonal) "
        "and P (black) in small standard cells instead of MP's large ground states "
        "(29 to 64 atoms); the offsets are in the README.",
    )
    hydrogen_reference: Literal["solid", "molecule"] = Field(
        default="solid",
        description="Hydrogen's reference: solid, MP's H2 molecular crystal (its "
        "cell kept, the atoms relaxed: PBE does not bind the crystal); molecule: "
        "one H2 molecule in a cubic box of `molecule_box` angstrom.",
    )
    molecule_box: float = Field(
        default=10.0, gt=3, description="Edge of the H2 molecule's box, angstrom."
    )
    mpi_processes: int = Field(
        default=2,
        ge=1,
        description="MPI processes of a GPAW calculation (a molecule in a box, "
        "single k-point, always runs on one).",
    )
    mpiexec: str = Field(
        default="mpiexec", description="The MPI launcher (mpiexec, mpirun, srun)."
    )
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Seconds one GPAW calculation may run (None: no limit).",
    )


class ServeSettings(BaseModel):
    """The read-only OPTIMADE API and web page of ``matforge serve``."""

    host: str = Field(
        default="127.0.0.1",
        description="Interface the server listens on: 127.0.0.1 keeps it on this "
        "machine; 0.0.0.0 opens it to the network (it is read-only, but unguarded).",
    )
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port.")
    base_url: str | None = Field(
        default=None,
        description="Public URL of the API when a proxy serves it elsewhere (e.g. "
        "https://example.org/matforge); the responses' links and next pages use "
        "it. Unset: taken from each request.",
    )
    page_limit_max: int = Field(
        default=500,
        ge=20,
        description="Largest page a query may ask for; a larger one is refused "
        "with OPTIMADE's 403 error. At least 20, the page a query gets when it "
        "names none.",
    )
    validate_responses: bool = Field(
        default=False,
        description="Pass every structures response through optimade-python-"
        "tools' response models before sending it. Off by default: it costs about "
        "a third of a request's time, and it checks little that is not checked "
        "already: an entry that fails the structure model falls back to a plain "
        "dictionary in those models, while `matforge build optimade` validates "
        "each entry, as it will be served, before writing it.",
    )


class AmorphousMDSettings(BaseModel):
    """Surrogate melt-quench MD of one composition (``MeltQuenchSettings``).

    The fields and defaults are those of
    :class:`matforge.amorphous.meltquench.MeltQuenchSettings`; its seed is
    ``amorphous.seed``.
    """

    target_atoms: int = Field(
        default=100,
        ge=1,
        description="Fewest atoms in the cell; whole formula units are packed.",
    )
    melt_temperature: float = Field(
        default=3000.0, gt=0, description="Temperature of the melt (K)."
    )
    melt_steps: int = Field(default=2500, ge=0, description="MD steps of the melt.")
    quench_step: float = Field(
        default=500.0,
        gt=0,
        description="Temperature drop (K) between the stages of the stepwise quench "
        "down to the hottest production temperature.",
    )
    quench_steps: int = Field(
        default=500, ge=0, description="MD steps of each quench stage."
    )
    equilibration_steps: int = Field(
        default=1000,
        ge=0,
        description="MD steps at each production temperature before D is recorded.",
    )
    production_steps: int = Field(
        default=5000,
        ge=1,
        description="MD steps at each production temperature whose Li mean squared "
        "displacement gives D.",
    )
    time_step_fs: float = Field(
        default=1.0,
        gt=0,
        description="MD time step (fs); MPMorph's AIMD uses 2 fs, too long for a hot "
        "Li-Li pair with SevenNet-0.",
    )
    traj_interval: int = Field(
        default=5, ge=1, description="MD steps between recorded production frames."
    )
    melt_friction_per_ps: float = Field(
        default=10.0,
        gt=0,
        description="Langevin friction (1/ps) of melt, quench and equilibration.",
    )
    production_thermostat: Literal["bussi", "langevin"] = Field(
        default="bussi",
        description="Thermostat while D is recorded: Bussi's global velocity "
        "rescaling (holds a small cell's temperature without damping the atoms' "
        "motion) or Langevin with `production_friction_per_ps`.",
    )
    production_tau_fs: float = Field(
        default=100.0, gt=0, description="Time constant (fs) of the Bussi thermostat."
    )
    production_friction_per_ps: float = Field(
        default=1.0,
        gt=0,
        description="Langevin friction (1/ps) while D is recorded, with "
        "`production_thermostat: langevin` (weak, so as not to slow the diffusion).",
    )
    volume_search_steps: int = Field(
        default=500,
        ge=1,
        description="MD steps at each trial volume of the zero-pressure volume "
        "search (`amorphous.volume: search`).",
    )
    volume_search_scales: tuple[float, ...] = Field(
        default=(0.85, 1.0, 1.15),
        min_length=2,
        description="Trial volumes of the volume search, as factors of the "
        "estimated volume.",
    )
    n_blocks: int = Field(
        default=5,
        ge=1,
        description="Blocks of the production run whose spread gives the standard "
        "error of D.",
    )
    fit_start_fraction: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Start of the MSD fit window, as a fraction of a block (past "
        "the ballistic and caging regime).",
    )
    fit_end_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="End of the MSD fit window, as a fraction of a block.",
    )

    @model_validator(mode="after")
    def _a_run_can_be_made(self) -> AmorphousMDSettings:
        """Refuse settings that leave too few frames or an empty fit window."""
        frames = self.production_steps // self.traj_interval
        if frames < 3 * self.n_blocks:
            raise ValueError(
                f"{self.production_steps} production steps recorded every "
                f"{self.traj_interval} give {frames} frames, too few for "
                f"{self.n_blocks} blocks (3 frames per block at least)"
            )
        if self.fit_start_fraction >= self.fit_end_fraction:
            raise ValueError("fit_start_fraction must be below fit_end_fraction")
        return self


class AmorphousSettings(BaseModel):
    """The second campaign: Li diffusivity in amorphous solids.

    The table of the ab initio amorphous materials database, models of D
    (random forest, XGBoost, SISSO) and surrogate melt-quench MD with an ML
    potential. D is stored in cm^2/s; the models predict it in the table's unit,
    1e-3 cm^2/s.
    """

    seed: int = Field(
        default=62,
        description="Seed of the authors' 85/15 split, the CV folds, the models, "
        "the random packing and the MD velocities.",
    )
    models: list[Literal["random_forest", "xgboost"]] = Field(
        default_factory=lambda: ["random_forest", "xgboost"],
        description="Model families trained by `matforge amorphous train`.",
    )
    targets: list[Literal["D", "lnD"]] = Field(
        default_factory=lambda: ["D", "lnD"],
        description="Targets of the random forest and XGBoost models: D in the "
        "table's unit (1e-3 cm^2/s), or its natural log.",
    )
    cv: bool = Field(
        default=True,
        description="Score the random forest and XGBoost models by 5-fold CV, "
        "random and grouped by composition, besides the authors' split.",
    )
    forest: dict[str, Any] = Field(
        default_factory=dict,
        description="Arguments of sklearn's RandomForestRegressor laid over "
        "matforge's (`matforge.amorphous.forest.FOREST_DEFAULTS`).",
    )
    xgboost: dict[str, Any] = Field(
        default_factory=dict,
        description="Arguments of xgboost's XGBRegressor laid over matforge's "
        "(`matforge.amorphous.boost.XGB_DEFAULTS`).",
    )
    sisso: bool = Field(
        default=True,
        description="Also search SISSO-style sparse descriptors of ln D.",
    )
    sis_size: int = Field(
        default=20,
        ge=1,
        description="SISSO: features screened into the subspace per dimension.",
    )
    max_terms: int = Field(
        default=4,
        ge=1,
        le=6,
        description="SISSO: largest number of terms (one model per number of terms "
        "from 1 up).",
    )
    sisso_grouped_cv: bool = Field(
        default=False,
        description="SISSO: also score each dimension by 5-fold CV grouped by "
        "composition (the whole search re-run in every fold).",
    )
    threads: int = Field(
        default=0,
        ge=0,
        description="CPU threads of the model fits and of the MD's potential; 0: "
        "every core this process may use; 1 suits a machine shared with other work.",
    )
    potential: str = Field(
        default="sevennet-0",
        description="ML potential of the surrogate melt-quench MD (a name as for "
        "`potential.name`); `matforge amorphous simulate --potential` overrides it.",
    )
    temperatures: list[float] = Field(
        default_factory=lambda: [2500.0, 2000.0],
        min_length=1,
        description="Production temperatures (K) of the MD when a command names none.",
    )
    volume: Literal["table", "search"] = Field(
        default="table",
        description="Cell volume of the MD: table, the AIMD volume per atom of the "
        "table (descriptor AAV; interpolated in T, held at the nearest end outside "
        "its temperatures; a composition not in the table gets a search); search, "
        "the potential's zero-pressure volume at the melt temperature.",
    )
    md: AmorphousMDSettings = Field(
        default_factory=AmorphousMDSettings,
        description="Melt, quench and production MD settings.",
    )


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the optional YAML settings file."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path
        self._data = self._load()

    def _load(self) -> dict[str, Any]:
        explicit = self.path is not None
        path = self.path or Path(
            os.environ.get("MATFORGE_CONFIG_FILE", str(DEFAULT_CONFIG_FILE))
        )
        explicit = explicit or "MATFORGE_CONFIG_FILE" in os.environ
        path = path.expanduser()
        if not path.is_file():
            if explicit:
                raise ConfigError(f"settings file {path} does not exist")
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigError(f"settings file {path} is not valid YAML: {exc}") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(
                f"settings file {path} must hold a mapping of settings, "
                f"not a {type(data).__name__}"
            )
        return data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class MatforgeSettings(BaseSettings):
    """Every setting of matforge, grouped by stage."""

    model_config = SettingsConfigDict(
        env_prefix="MATFORGE_",
        env_nested_delimiter="__",
        extra="forbid",
        populate_by_name=True,
    )

    home: Path = Field(
        default=Path("~/.matforge"),
        description="Folder of the embedded database and of local artefacts.",
    )
    shared_data: Path | None = Field(
        default=None,
        description=(
            "Folder of the offline data snapshot. Unset: `../shared/data` beside "
            "the working directory or beside the source checkout."
        ),
    )
    mp_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "mp_api_key", "MATFORGE_MP_API_KEY", "MP_API_KEY"
        ),
        description="Materials Project API key (also read from MP_API_KEY).",
    )
    store: StoreSettings = Field(default_factory=StoreSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    candidates: CandidateSettings = Field(default_factory=CandidateSettings)
    score: ScoreSettings = Field(default_factory=ScoreSettings)
    causal: CausalSettings = Field(default_factory=CausalSettings)
    launchpad: LaunchpadSettings = Field(default_factory=LaunchpadSettings)
    ml: GeneratorSettings = Field(default_factory=GeneratorSettings)
    run: RunSettings = Field(default_factory=RunSettings)
    potential: PotentialSettings = Field(default_factory=PotentialSettings)
    expand: ExpandSettings = Field(default_factory=ExpandSettings)
    dft: DftSettings = Field(default_factory=DftSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    amorphous: AmorphousSettings = Field(default_factory=AmorphousSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: arguments, environment, YAML file, defaults."""
        return (
            init_settings,
            env_settings,
            _YamlSource(settings_cls, _CONFIG_FILE.get()),
        )

    @property
    def home_dir(self) -> Path:
        """The home folder with ``~`` expanded (not created)."""
        return self.home.expanduser()

    def shared_data_dir(self) -> Path:
        """Return the offline data folder, or explain where it was looked for."""
        if self.shared_data is not None:
            candidates = [self.shared_data.expanduser()]
        else:
            repo_root = Path(__file__).resolve().parents[2]
            candidates = [
                Path.cwd() / ".." / "shared" / "data",
                repo_root.parent / "shared" / "data",
            ]
        for path in candidates:
            if path.is_dir():
                return path.resolve()
        tried = ", ".join(str(p) for p in candidates)
        raise DataNotFoundError(
            f"offline data folder not found (looked in {tried}); "
            "set MATFORGE_SHARED_DATA to the folder holding hydrides_seed.json.gz"
        )


def load_settings(
    config_file: str | Path | None = None, **overrides: Any
) -> MatforgeSettings:
    """Build the settings, optionally from a given YAML file.

    Parameters
    ----------
    config_file
        YAML file to read instead of ``MATFORGE_CONFIG_FILE`` / ``~/.matforge.yaml``.
    **overrides
        Values that win over every other source.

    Returns
    -------
    MatforgeSettings
        The validated settings.

    Raises
    ------
    ConfigError
        If the file cannot be read or a value is invalid.
    """
    token = _CONFIG_FILE.set(Path(config_file) if config_file is not None else None)
    try:
        return MatforgeSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    finally:
        _CONFIG_FILE.reset(token)
