from pymatgen.core import Lattice, Structure

from matforge.core.validity import candidate_problems


def _nacl_like(a: float = 4.0) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), ["Li", "H"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def test_a_good_relaxation_passes():
    s = _nacl_like()
    assert (
        candidate_problems(
            s, s.composition, formation_energy_per_atom=-0.4, e_above_hull=0.0
        )
        == []
    )


def test_every_filter_gives_its_reason():
    s = _nacl_like()
    problems = candidate_problems(
        s,
        s.composition,
        converged=False,
        formation_energy_per_atom=0.3,
        e_above_hull=0.5,
    )
    assert problems == [
        "the relaxation did not converge",
        "formation energy 0.300 eV/atom is above the 0.1 allowed",
        "energy above the hull 0.500 eV/atom is above the 0.2 allowed",
    ]
    squeezed = _nacl_like(0.9)
    assert "closer than the 0.5 A" in " ".join(
        candidate_problems(squeezed, squeezed.composition, formation_energy_per_atom=-1)
    )
    assert candidate_problems(
        s, s.composition, formation_energy_per_atom=None, require_converged=False
    ) == ["the formation energy is unknown"]


def test_failures_charge_and_composition():
    s = _nacl_like()
    failed = candidate_problems(
        None, s.composition, failed=True, failure_reason="NaN energy"
    )
    assert failed == ["the relaxation failed: NaN energy"]
    oxide = s.copy()
    oxide.replace_species({"Li": "Mg"})  # MgH: no neutral assignment
    reasons = candidate_problems(
        oxide,
        oxide.composition,
        formation_energy_per_atom=-0.1,
        oxidation_states="common",
        metallic_exempt=False,
    )
    assert reasons == ["MgH is not charge neutral with common oxidation states"]
    no_metal = s.copy()
    no_metal.replace_species({"Li": "C"})
    assert candidate_problems(
        no_metal, no_metal.composition, formation_energy_per_atom=-0.1
    )[0].startswith("no metal in HC")
