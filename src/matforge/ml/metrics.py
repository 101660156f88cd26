"""Generator metrics with CDVAE's definitions (Xie et al., ICLR 2022).

- reconstruction: match rate and mean RMSE of decoded test crystals
  (``StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)``);
- validity: structural (every interatomic distance, periodic images included,
  above 0.5 A and volume above 0.1 A^3) and compositional (SMACT charge
  neutrality and Pauling electronegativity test, pure elements and all-metal
  alloys valid);
- uniqueness (distinct valid crystals over valid crystals) and novelty
  (distinct valid crystals matching no training crystal over distinct valid);
- COV-R / COV-P: recall and precision coverage with CrystalNN structure and
  Magpie composition fingerprints (matminer), within CDVAE's MP-20 cutoffs;
- Wasserstein distances of density and of the number of elements to the test set.

Pure functions: structures in, numbers out.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Structure
from scipy.stats import wasserstein_distance

STRUCT_CUTOFF = 0.4
"""CDVAE's COV cutoff on CrystalNN fingerprint distance (MP-20)."""
COMP_CUTOFF = 10.0
"""CDVAE's COV cutoff on normalised Magpie fingerprint distance (MP-20)."""

CDVAE_MP20 = {
    "structural_validity": 1.0,
    "compositional_validity": 0.867,
    "cov_r": 0.992,
    "cov_p": 0.995,
}
"""CDVAE's published MP-20 generation figures."""


def matcher() -> StructureMatcher:
    """Return CDVAE's structure matcher."""
    return StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3)


def structural_validity(
    structure: Structure, min_distance: float = 0.5, min_volume: float = 0.1
) -> bool:
    """Return True when all distances (images included) and the volume are sane."""
    if structure.volume <= min_volume:
        return False
    if len(structure) == 0:
        return False
    centres, _, _, distances = structure.get_neighbor_list(min_distance)
    return len(centres) == 0 or bool(np.all(distances > min_distance))


MAX_SMACT_ELEMENTS = 6
"""Compositions with more elements count as invalid without a SMACT search.

SMACT tries every combination of oxidation states, exponential in the number
of elements: a 12-element composition takes hours. CDVAE's data sets hold at
most 5 elements per crystal, so its figures are unaffected by this cap.
"""


def compositional_validity(composition: Composition) -> bool:
    """Return CDVAE's SMACT validity of a composition (SMACT's 2014 oxidation states).

    Pure elements and compositions of metals only count as valid; more than
    :data:`MAX_SMACT_ELEMENTS` elements count as invalid.
    """
    from smact.screening import smact_validity

    if len(composition.elements) == 1:
        return True
    if len(composition.elements) > MAX_SMACT_ELEMENTS:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return bool(
                smact_validity(
                    composition.reduced_composition,
                    use_pauling_test=True,
                    include_alloys=True,
                    oxidation_states_set="smact14",
                )
            )
        except (KeyError, ValueError, TypeError):
            return False


def reconstruction(
    predicted: Sequence[Structure], targets: Sequence[Structure]
) -> dict[str, float]:
    """Return the match rate and mean normalised RMSE of matched pairs."""
    sm = matcher()
    rms = []
    for pred, target in zip(predicted, targets, strict=True):
        try:
            found = sm.get_rms_dist(pred, target)
        except Exception:
            found = None
        if found is not None:
            rms.append(found[0])
    n = max(len(targets), 1)
    return {
        "match_rate": len(rms) / n,
        "rmse": float(np.mean(rms)) if rms else float("nan"),
    }


def _distinct(structures: Sequence[Structure]) -> list[Structure]:
    groups = matcher().group_structures(list(structures))
    return [group[0] for group in groups]


def novel_fraction(
    distinct: Sequence[Structure], reference: Sequence[Structure]
) -> float:
    """Return the share of crystals that match no reference crystal."""
    if not distinct:
        return 0.0
    sm = matcher()
    by_formula: dict[str, list[Structure]] = {}
    for ref in reference:
        by_formula.setdefault(ref.composition.reduced_formula, []).append(ref)
    novel = 0
    for structure in distinct:
        same = by_formula.get(structure.composition.reduced_formula, [])
        if not any(sm.fit(structure, ref) for ref in same):
            novel += 1
    return novel / len(distinct)


def structure_fingerprints(structures: Sequence[Structure]) -> np.ndarray:
    """Return CrystalNN ``ops`` site fingerprints averaged over sites (CDVAE)."""
    from matminer.featurizers.site.fingerprint import CrystalNNFingerprint

    featurizer = CrystalNNFingerprint.from_preset("ops")
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for structure in structures:
            try:
                sites = [
                    featurizer.featurize(structure, i) for i in range(len(structure))
                ]
                rows.append(np.mean(sites, axis=0))
            except Exception:
                rows.append(None)
    width = next((len(r) for r in rows if r is not None), 61)
    return np.array([r if r is not None else np.full(width, np.nan) for r in rows])


def composition_fingerprints(compositions: Sequence[Composition]) -> np.ndarray:
    """Return Magpie elemental-property fingerprints (matminer ``ElementProperty``)."""
    from matminer.featurizers.composition.composite import ElementProperty

    featurizer = ElementProperty.from_preset("magpie")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array([featurizer.featurize(c) for c in compositions], dtype=float)


def coverage(
    gen_struct: np.ndarray,
    gen_comp: np.ndarray,
    ref_struct: np.ndarray,
    ref_comp: np.ndarray,
    struct_cutoff: float = STRUCT_CUTOFF,
    comp_cutoff: float = COMP_CUTOFF,
) -> dict[str, float]:
    """Return COV-R and COV-P of generated against reference fingerprints.

    Composition fingerprints are standardised with the reference's mean and
    standard deviation (CDVAE used a scaler fitted on MP-20's training set).
    """
    from scipy.spatial.distance import cdist

    mean = np.nanmean(ref_comp, axis=0)
    std = np.nanstd(ref_comp, axis=0)
    std[~np.isfinite(std) | (std < 1e-8)] = 1.0
    gen_comp = np.nan_to_num((gen_comp - mean) / std)
    ref_comp = np.nan_to_num((ref_comp - mean) / std)
    s_dist = np.nan_to_num(cdist(ref_struct, gen_struct), nan=np.inf)
    c_dist = np.nan_to_num(cdist(ref_comp, gen_comp), nan=np.inf)
    recall = (s_dist.min(1) <= struct_cutoff) & (c_dist.min(1) <= comp_cutoff)
    precision = (s_dist.min(0) <= struct_cutoff) & (c_dist.min(0) <= comp_cutoff)
    return {"cov_r": float(recall.mean()), "cov_p": float(precision.mean())}


def generation_metrics(
    generated: Sequence[Structure],
    test: Sequence[Structure],
    train: Sequence[Structure],
    max_fingerprints: int | None = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Return CDVAE's generation metrics of a set of generated crystals.

    Parameters
    ----------
    generated
        The generated crystals.
    test
        The test split (COV and Wasserstein reference).
    train
        The training split (novelty reference).
    max_fingerprints
        At most this many valid generated crystals are fingerprinted for COV
        (a seeded random subset; CrystalNN is slow); None for all.
    seed
        Seed of that subset.

    Returns
    -------
    dict
        Validity (structural, compositional, both), uniqueness, novelty,
        COV-R, COV-P and the Wasserstein distances of density and of the
        number of elements.
    """
    n = max(len(generated), 1)
    struct_ok = [structural_validity(s) for s in generated]
    comp_ok = [compositional_validity(s.composition) for s in generated]
    valid = [
        s for s, a, b in zip(generated, struct_ok, comp_ok, strict=True) if a and b
    ]
    distinct = _distinct(valid) if valid else []
    result: dict[str, Any] = {
        "num_generated": len(generated),
        "structural_validity": sum(struct_ok) / n,
        "compositional_validity": sum(comp_ok) / n,
        "validity": len(valid) / n,
        "uniqueness": len(distinct) / max(len(valid), 1),
        "novelty": novel_fraction(distinct, train),
    }
    if valid and test:
        chosen = list(valid)
        if max_fingerprints is not None and len(chosen) > max_fingerprints:
            rng = np.random.default_rng(seed)
            picks = rng.choice(len(chosen), max_fingerprints, replace=False)
            chosen = [chosen[i] for i in sorted(picks)]
        cov = coverage(
            structure_fingerprints(chosen),
            composition_fingerprints([s.composition for s in chosen]),
            structure_fingerprints(test),
            composition_fingerprints([s.composition for s in test]),
        )
        result.update(cov)
        result["wdist_density"] = float(
            wasserstein_distance([s.density for s in valid], [s.density for s in test])
        )
        result["wdist_num_elements"] = float(
            wasserstein_distance(
                [len(s.composition.elements) for s in valid],
                [len(s.composition.elements) for s in test],
            )
        )
    return result
