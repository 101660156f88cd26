"""Generator metrics with CDVAE's definitions (Xie et al., ICLR 2022).

- reconstruction: match rate and mean RMSE of decoded crystals
  (``StructureMatcher(stol=0.5, ltol=0.3, angle_tol=10)``), a prediction
  counting only when it is valid (structurally and compositionally), as
  CDVAE's ``RecEval``;
- validity: structural (every interatomic distance, periodic images included,
  above 0.5 A and volume above 0.1 A^3) and compositional (SMACT charge
  neutrality and Pauling electronegativity test, pure elements and all-metal
  alloys valid);
- uniqueness (distinct valid crystals over valid crystals) and novelty
  (distinct valid crystals matching no training crystal over distinct valid);
- COV-R / COV-P: recall and precision coverage with CrystalNN structure and
  Magpie composition fingerprints (matminer), the latter standardised with
  CDVAE's fixed MP-20 scaler (:mod:`matforge.ml.mp20_scaler`), within CDVAE's
  MP-20 cutoffs; every generated crystal counts (precision is over all of
  them, those without a fingerprint counting as not covered), as CDVAE's
  ``compute_cov``;
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

from matforge.ml.mp20_scaler import MAGPIE_MEANS, MAGPIE_STDS

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


def is_valid(structure: Structure) -> bool:
    """Return CDVAE's validity: structurally and compositionally valid."""
    return structural_validity(structure) and compositional_validity(
        structure.composition
    )


def reconstruction(
    predicted: Sequence[Structure],
    targets: Sequence[Structure],
    *,
    require_valid: bool = True,
) -> dict[str, float]:
    """Return the match rate and mean normalised RMSE of matched pairs.

    Parameters
    ----------
    predicted, targets
        Decoded crystals and the crystals they were encoded from.
    require_valid
        Count a match only when the prediction is valid (:func:`is_valid`),
        as CDVAE's ``RecEval``.

    Returns
    -------
    dict[str, float]
        ``match_rate`` (share of targets matched), ``rmse`` (mean over
        matches), ``valid`` (share of valid predictions) and
        ``match_rate_any`` (matches whether or not the prediction is valid).
    """
    sm = matcher()
    rms, rms_any, valid = [], [], 0
    for pred, target in zip(predicted, targets, strict=True):
        ok = is_valid(pred)
        valid += ok
        try:
            found = sm.get_rms_dist(pred, target)
        except Exception:
            found = None
        if found is not None:
            rms_any.append(found[0])
            if ok or not require_valid:
                rms.append(found[0])
    n = max(len(targets), 1)
    return {
        "match_rate": len(rms) / n,
        "rmse": float(np.mean(rms)) if rms else float("nan"),
        "valid": valid / n,
        "match_rate_any": len(rms_any) / n,
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


def scale_composition_fingerprints(fingerprints: np.ndarray) -> np.ndarray:
    """Standardise Magpie fingerprints with CDVAE's MP-20 scaler (NaN -> 0)."""
    scaled = (np.asarray(fingerprints, dtype=float) - np.array(MAGPIE_MEANS)) / (
        np.array(MAGPIE_STDS)
    )
    return np.nan_to_num(scaled, nan=0.0)


def coverage(
    gen_struct: np.ndarray,
    gen_comp: np.ndarray,
    ref_struct: np.ndarray,
    ref_comp: np.ndarray,
    struct_cutoff: float = STRUCT_CUTOFF,
    comp_cutoff: float = COMP_CUTOFF,
    num_generated: int | None = None,
) -> dict[str, float]:
    """Return COV-R and COV-P of generated against reference fingerprints.

    As CDVAE's ``compute_cov``: composition fingerprints (raw Magpie) are
    standardised with the fixed MP-20 scaler; generated crystals without a
    structure fingerprint (a NaN row) are left out of the distances but
    counted in the precision's denominator, ``num_generated`` (default: the
    rows of ``gen_struct``).
    """
    from scipy.spatial.distance import cdist

    total = len(gen_struct) if num_generated is None else num_generated
    has_fp = np.isfinite(gen_struct).all(-1)
    gen_struct, gen_comp = gen_struct[has_fp], gen_comp[has_fp]
    ref_ok = np.isfinite(ref_struct).all(-1)
    if not len(gen_struct) or not ref_ok.any():
        return {"cov_r": 0.0, "cov_p": 0.0}
    s_dist = cdist(ref_struct[ref_ok], gen_struct)
    c_dist = cdist(
        scale_composition_fingerprints(ref_comp[ref_ok]),
        scale_composition_fingerprints(gen_comp),
    )
    recall = (s_dist.min(1) <= struct_cutoff) & (c_dist.min(1) <= comp_cutoff)
    precision = (s_dist.min(0) <= struct_cutoff) & (c_dist.min(0) <= comp_cutoff)
    return {
        "cov_r": float(recall.sum() / len(ref_struct)),
        "cov_p": float(precision.sum() / max(total, 1)),
    }


def fingerprints(structures: Sequence[Structure]) -> tuple[np.ndarray, np.ndarray]:
    """Return the CrystalNN and Magpie fingerprints of crystals."""
    return (
        structure_fingerprints(structures),
        composition_fingerprints([s.composition for s in structures]),
    )


def smact_rate(structures: Sequence[Structure]) -> float:
    """Return the share of crystals whose composition passes SMACT's rule."""
    if not structures:
        return float("nan")
    return sum(compositional_validity(s.composition) for s in structures) / len(
        structures
    )


def generation_metrics(
    generated: Sequence[Structure],
    test: Sequence[Structure],
    train: Sequence[Structure],
    max_fingerprints: int | None = None,
    seed: int = 0,
    reference_fingerprints: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Return CDVAE's generation metrics of a set of generated crystals.

    Parameters
    ----------
    generated
        The generated crystals.
    test
        The test split (COV and Wasserstein reference).
    train
        The training split (novelty reference and its own SMACT rate).
    max_fingerprints
        Fingerprint at most this many generated crystals for COV (a seeded
        random subset of all of them, COV-P over that subset; CrystalNN is
        slow); None for all, as CDVAE.
    seed
        Seed of that subset.
    reference_fingerprints
        The test split's fingerprints (:func:`fingerprints`), when known.

    Returns
    -------
    dict
        Validity (structural, compositional, both), the training split's
        SMACT rate (``train_compositional_validity``), uniqueness, novelty,
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
        "train_compositional_validity": smact_rate(train),
        "validity": len(valid) / n,
        "uniqueness": len(distinct) / max(len(valid), 1),
        "novelty": novel_fraction(distinct, train),
    }
    if generated and test:
        chosen = list(generated)
        if max_fingerprints is not None and len(chosen) > max_fingerprints:
            rng = np.random.default_rng(seed)
            picks = rng.choice(len(chosen), max_fingerprints, replace=False)
            chosen = [chosen[i] for i in sorted(picks)]
        ref = reference_fingerprints or fingerprints(test)
        result.update(coverage(*fingerprints(chosen), *ref))
    if valid and test:
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


def coverage_ceiling(
    train: Sequence[Structure],
    test: Sequence[Structure],
    train_fingerprints: tuple[np.ndarray, np.ndarray] | None = None,
    test_fingerprints: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    """Return COV-R and COV-P of the training split against the test split.

    The coverage a generator that reproduced its training crystals exactly
    would reach: the ceiling this data allows.
    """
    gen = train_fingerprints or fingerprints(train)
    ref = test_fingerprints or fingerprints(test)
    return coverage(*gen, *ref)
