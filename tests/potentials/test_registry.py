from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from matforge.potentials.registry import (
    POTENTIALS,
    PotentialError,
    is_matgl_folder,
    load_calculator,
    resolve_potential,
)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("sevennet-0", "sevennet-0"),
        ("7net-0", "sevennet-0"),
        ("SevenNet-l3i5", "sevennet-l3i5"),
        ("CHGNet", "chgnet"),
        ("M3GNet", "m3gnet"),
        ("matpes", "matpes-pbe"),
    ],
)
def test_names_and_aliases(name: str, canonical: str) -> None:
    assert resolve_potential(name).name == canonical


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(PotentialError, match=r"unknown potential 'mace'.*sevennet-0"):
        resolve_potential("mace")


def test_version_names_package_and_model() -> None:
    spec = resolve_potential("sevennet-0")
    assert spec.version == f"sevenn {metadata.version('sevenn')}, model 7net-0"
    assert resolve_potential("chgnet").version.startswith(
        f"chgnet {metadata.version('chgnet')}"
    )


def test_batching_abilities() -> None:
    assert POTENTIALS["sevennet-0"].batch_relax
    assert POTENTIALS["chgnet"].batch_static
    assert not POTENTIALS["chgnet"].batch_relax
    assert not POTENTIALS["m3gnet"].batch_static


def test_chgnet_energies_already_hold_the_mp2020_corrections() -> None:
    assert POTENTIALS["sevennet-0"].apply_mp2020
    assert not POTENTIALS["chgnet"].apply_mp2020


def test_model_folder_only_for_matgl(tmp_path: Path) -> None:
    with pytest.raises(PotentialError, match="ship in its wheel"):
        resolve_potential("sevennet-0", tmp_path)
    with pytest.raises(PotentialError, match="does not hold a saved matgl model"):
        resolve_potential("m3gnet", tmp_path)


def test_named_hub_model_offline_says_how_to_use_a_folder() -> None:
    # conftest sets HF_HUB_OFFLINE=1: nothing is downloaded
    with pytest.raises(PotentialError) as err:
        load_calculator(resolve_potential("m3gnet"))
    message = str(err.value)
    assert "cannot be downloaded here" in message
    assert "MATFORGE_POTENTIAL__MODEL_PATH" in message
    assert "M3GNet-PES-MatPES-PBE-2025.2" in message


@pytest.mark.potential
def test_tiny_matgl_model_from_a_local_folder(tiny_matgl_model: Path, lih) -> None:
    from matforge.potentials.relax import relax_sequential

    assert is_matgl_folder(tiny_matgl_model)
    by_folder = resolve_potential(str(tiny_matgl_model))
    by_name = resolve_potential("m3gnet", tiny_matgl_model)
    assert by_folder.family == by_name.family == "matgl"
    assert by_name.name == "m3gnet"
    assert by_name.checksum is not None
    assert by_name.checksum in by_name.version
    assert by_name.version.startswith(f"matgl {metadata.version('matgl')}")
    [static] = relax_sequential([lih], by_name, relax=False)
    assert static.ok, static.error
    assert static.potential == "m3gnet"
    assert static.potential_version == by_name.version
    [again] = relax_sequential([lih], by_folder, relax=False)
    assert again.energy == pytest.approx(static.energy, abs=1e-5)


def test_the_default_is_the_most_accurate_on_the_seed_calibration() -> None:
    from matforge.settings import load_settings

    # seed MAE (eV/atom, --no-relax): sevennet-l3i5 0.038, sevennet-0 0.041,
    # chgnet 0.049
    assert load_settings().potential.name == "sevennet-l3i5"


def test_zero_threads_means_every_core_this_process_may_use():
    import os

    from matforge.settings import cpu_threads

    assert cpu_threads(3) == 3
    assert cpu_threads(0) == len(os.sched_getaffinity(0))
