"""The generator stages: train from the hydrides collection, sample into the store.

Thin glue around :mod:`matforge.ml`: the science is there; here the inputs
are read from and the outputs written to the store factory's collections
(``hydrides`` -> ``models`` + data store -> ``generated``). Two stages of a
campaign live here, train and generate, each with its Maker.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matforge.errors import DataNotFoundError, MatforgeError
from matforge.flows.stage import StageMaker, execute_stage, stage_job
from matforge.schemas.common import BuildMeta, content_hash
from matforge.schemas.generator import GeneratedDoc, ModelDoc
from matforge.settings import cpu_threads
from matforge.stores.artefacts import put_bytes, put_json
from matforge.stores.models import (
    latest_model_doc,
    model_checkpoint,
    save_model_doc,
    store_metrics,
    update_model_doc,
)
from matforge.stores.writes import upsert_documents

if TYPE_CHECKING:
    from pymatgen.core import Structure
    from torch_geometric.data import Data

    from matforge.ml.model import CrystalDiffusionVAE
    from matforge.ml.sample import SamplingSettings
    from matforge.settings import GeneratorSettings, MatforgeSettings
    from matforge.stores.factory import StoreFactory

logger = logging.getLogger(__name__)

_VERSIONS = ("torch", "torch-geometric")
PRETRAIN_FILES = {"train": "train.csv", "val": "val.csv"}
"""The MP-20 sample's files used for pre-training (its test file stays unused)."""


def load_hydride_graphs(
    factory: StoreFactory,
    max_atoms: int,
    canonical: bool = True,
    max_e_above_hull: float | None = None,
) -> tuple[list[Data], list[Structure]]:
    """Read every hydride with at most ``max_atoms`` sites as PyG graphs.

    Sorted by material id, so a seeded split picks the same crystals again;
    ``canonical`` reads them in their canonical (Niggli) cell;
    ``max_e_above_hull`` leaves out the crystals known to lie further above
    the hull (eV/atom; those of unknown distance are kept).
    """
    from pymatgen.core import Structure

    from matforge.ml.data import structure_to_data

    docs = factory.store("hydrides").query(
        properties=[
            "material_id",
            "structure",
            "storage_score",
            "nsites",
            "e_above_hull",
        ]
    )
    docs = [d for d in docs if d.get("nsites", 0) <= max_atoms]
    kept = [d for d in docs if not _above_hull(d.get("e_above_hull"), max_e_above_hull)]
    if max_e_above_hull is not None:
        logger.info(
            "generator data: %d of %d hydrides within %g eV/atom of the hull "
            "(or of unknown distance)",
            len(kept),
            len(docs),
            max_e_above_hull,
        )
    docs = sorted(kept, key=lambda d: d["material_id"])
    if len(docs) < 3:
        within = (
            ""
            if max_e_above_hull is None
            else f" within {max_e_above_hull:g} eV/atom of the hull"
        )
        raise DataNotFoundError(
            f"the hydrides collection holds {len(docs)} crystals of at most "
            f"{max_atoms} sites{within}; run `matforge ingest offline` first"
            + (" or raise ml.max_e_above_hull" if within else "")
        )
    graphs, structures = [], []
    for doc in docs:
        structure = Structure.from_dict(doc["structure"])
        graphs.append(
            structure_to_data(
                structure,
                doc.get("storage_score"),
                doc["material_id"],
                canonical=canonical,
            )
        )
        structures.append(structure)
    return graphs, structures


def _above_hull(e_above_hull: Any, limit: float | None) -> bool:
    """Whether a known energy above the hull exceeds ``limit`` (None: no limit)."""
    if limit is None or e_above_hull is None:
        return False
    value = float(e_above_hull)
    return math.isfinite(value) and value > limit


def load_pretrain_graphs(
    folder: Path,
    max_atoms: int,
    exclude: set[str] | frozenset[str] = frozenset(),
    canonical: bool = True,
) -> tuple[dict[str, list[Data]], list[str]]:
    """Read the MP-20 sample's train and val CSVs as graphs for pre-training.

    Crystals of more than ``max_atoms`` sites, unreadable rows and those whose
    material id is in ``exclude`` (the hydrides held out for validation and
    testing) are left out. The crystals carry no storage score.

    Returns
    -------
    tuple[dict[str, list[Data]], list[str]]
        The ``train`` and ``val`` graphs, and the excluded ids found.
    """
    from matforge.data.files import read_file
    from matforge.ml.data import structure_to_data

    parts: dict[str, list[Data]] = {}
    excluded: list[str] = []
    for name, filename in PRETRAIN_FILES.items():
        path = folder / filename
        if not path.is_file():
            raise DataNotFoundError(f"no pre-training file {path}")
        parts[name] = []
        for record in read_file(path):
            if record.structure is None or len(record.structure) > max_atoms:
                continue
            if record.material_id in exclude:
                excluded.append(record.material_id)
                continue
            parts[name].append(
                structure_to_data(
                    record.structure,
                    None,
                    record.material_id or record.input,
                    canonical=canonical,
                )
            )
    return parts, sorted(excluded)


def pretrain_folder(settings: MatforgeSettings, skip: bool = False) -> Path | None:
    """Return the MP-20 sample to pre-train on, or None when there is no pre-training.

    Pre-training runs when ``ml.pretrain_epochs`` is above zero, unless
    ``skip`` (``matforge train --quick`` / ``--no-pretrain``).
    """
    if skip or settings.ml.pretrain_epochs <= 0:
        return None
    return settings.shared_data_dir() / "mp20_sample"


def build_model(settings: GeneratorSettings) -> CrystalDiffusionVAE:
    """Return a fresh model of the configured size."""
    from matforge.ml.model import CrystalDiffusionVAE

    return CrystalDiffusionVAE(
        hidden_dim=settings.hidden_dim,
        latent_dim=settings.latent_dim,
        num_encoder_layers=settings.num_layers,
        num_decoder_layers=settings.num_layers,
        cutoff=settings.cutoff,
        max_neighbors=settings.max_neighbors,
        max_atoms=settings.max_atoms,
        num_noise_levels=settings.num_noise_levels,
        beta=settings.beta,
        cost_composition=settings.cost_composition,
        encoder_composition=settings.encoder_composition,
        detach_lattice=settings.detach_lattice,
        decoder=settings.decoder,
    )


def train_generator(
    factory: StoreFactory,
    settings: GeneratorSettings,
    *,
    epochs: int | None = None,
    device: str = "cpu",
    progress: Callable[[int, dict[str, float]], None] | None = None,
    run_id: str | None = None,
    pretrain_dir: Path | None = None,
    pretrain_progress: Callable[[int, dict[str, float]], None] | None = None,
) -> ModelDoc:
    """Train a generator on the store's hydrides and store it.

    With ``pretrain_dir`` (the MP-20 sample) and ``settings.pretrain_epochs``
    above zero, the model is first pre-trained on those crystals of all
    chemistries (early stopping on their val file), then fine-tuned on the
    hydrides; both stages' data, sizes and results are on the document.
    The checkpoint goes to the data store, with the training histories and
    the split; a ``models`` document points to both.

    Parameters
    ----------
    factory
        The store factory.
    settings
        Model and training settings.
    epochs
        Epochs instead of ``settings.epochs``.
    device
        ``cpu`` or ``cuda``.
    progress
        Called after every fine-tuning epoch.
    run_id
        The campaign, recorded on the document.
    pretrain_dir
        Folder of the MP-20 sample (``train.csv``, ``val.csv``); None skips
        pre-training.
    pretrain_progress
        Called after every pre-training epoch.

    Returns
    -------
    ModelDoc
        The stored model document.
    """
    from matforge.ml.runtime import torch_threads

    with torch_threads(settings.threads):
        return _train_generator(
            factory,
            settings,
            epochs=epochs,
            device=device,
            progress=progress,
            run_id=run_id,
            pretrain_dir=pretrain_dir,
            pretrain_progress=pretrain_progress,
        )


def _train_generator(
    factory: StoreFactory,
    settings: GeneratorSettings,
    *,
    epochs: int | None,
    device: str,
    progress: Callable[[int, dict[str, float]], None] | None,
    run_id: str | None,
    pretrain_dir: Path | None,
    pretrain_progress: Callable[[int, dict[str, float]], None] | None,
) -> ModelDoc:
    import torch

    from matforge.ml.data import split_indices
    from matforge.ml.train import fit_normalisers, train_model

    graphs, _ = load_hydride_graphs(
        factory, settings.max_atoms, settings.canonical_cell, settings.max_e_above_hull
    )
    split = split_indices(len(graphs), settings.seed)
    parts = {name: [graphs[i] for i in idx] for name, idx in split.items()}
    ids = {name: [g.material_id for g in part] for name, part in parts.items()}
    torch.manual_seed(settings.seed)
    model = build_model(settings)
    inputs = ["hydrides"]
    pretraining: dict[str, Any] | None = None
    pretrain_history: list[dict[str, float]] = []
    if pretrain_dir is not None and settings.pretrain_epochs > 0:
        start = time.perf_counter()
        held_out = set(ids["val"]) | set(ids["test"])
        pre, excluded = load_pretrain_graphs(
            Path(pretrain_dir), settings.max_atoms, held_out, settings.canonical_cell
        )
        read_s = time.perf_counter() - start
        # the hydrides' normalisers, so the heads keep their scale when fine-tuned
        fit_normalisers(model, parts["train"])
        pre_steps = _training_steps(
            settings, len(pre["train"]), settings.pretrain_epochs
        )
        with generator_runtime(
            settings, model, pre_steps, training=True
        ) as pre_compiled:
            pre_result = train_model(
                model,
                pre["train"],
                pre["val"],
                epochs=settings.pretrain_epochs,
                batch_size=settings.batch_size,
                learning_rate=settings.learning_rate,
                patience=settings.pretrain_patience,
                seed=settings.seed,
                device=device,
                progress=pretrain_progress,
                fit=False,
                **_schedule(settings),
            )
        pretrain_history = pre_result.history
        files = [str(Path(pretrain_dir) / f) for f in PRETRAIN_FILES.values()]
        inputs += files
        pretraining = {
            "data": files,
            "sizes": {k: len(v) for k, v in pre.items()},
            "excluded_ids": excluded,
            "epochs": settings.pretrain_epochs,
            "epochs_run": pre_result.epochs_run,
            "best_epoch": pre_result.best_epoch,
            "best_val_loss": pre_result.best_val_loss,
            "stopped_early": pre_result.stopped_early,
            "read_seconds": read_s,
            "seconds": pre_result.seconds,
            "patience": settings.pretrain_patience,
            "compiled": pre_compiled,
            "threads": cpu_threads(settings.threads),
        }
    n_epochs = epochs if epochs is not None else settings.epochs
    steps = _training_steps(settings, len(parts["train"]), n_epochs)
    with generator_runtime(settings, model, steps, training=True) as compiled:
        result = train_model(
            model,
            parts["train"],
            parts["val"],
            epochs=n_epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            patience=settings.patience,
            seed=settings.seed,
            device=device,
            progress=progress,
            **_schedule(settings),
        )
    # the same settings, data and seed give the same weights, and the same id
    model_id = (
        "cdvae-"
        + content_hash(
            {
                "config": model.config(),
                "split": ids,
                "settings": settings.training_dump(),
                "epochs": n_epochs,
                "pretraining": bool(pretraining),
                "weights": weights_digest(model),
            }
        )[:12]
    )
    data = factory.data_store()
    checkpoint_key = put_bytes(
        data, f"{model_id}/checkpoint", model.to_bytes(), model_id=model_id
    )
    history_key = put_json(
        data,
        f"{model_id}/history",
        {
            "history": result.history,
            "pretrain_history": pretrain_history,
            "split": ids,
            "split_indices": split,
        },
        model_id=model_id,
    )
    training = {
        "epochs": n_epochs,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "stopped_early": result.stopped_early,
        "seconds": result.seconds,
        "device": device,
        "compiled": compiled,
        "threads": cpu_threads(settings.threads),
        "seed": settings.seed,
        "batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "patience": settings.patience,
        "canonical_cell": settings.canonical_cell,
        "max_e_above_hull": settings.max_e_above_hull,
        "hydrides_split": len(graphs),
        "selection": "validation cost_coord * coord + cost_type * type loss",
        **_schedule(settings),
        "final": result.history[-1] if result.history else {},
        "pretraining": pretraining,
    }
    doc = ModelDoc(
        model_id=model_id,
        run_id=run_id,
        config=model.config(),
        normalisers=model.normalisers(),
        checkpoint_blob=checkpoint_key,
        history_blob=history_key,
        split_seed=settings.seed,
        split_sizes={k: len(v) for k, v in ids.items()},
        split=ids,
        training=training,
        build=BuildMeta(
            versions=BuildMeta().versions | _versions(),
            inputs=inputs,
            settings=settings.training_dump(),
        ),
    )
    save_model_doc(factory, doc)
    return doc


def _schedule(settings: GeneratorSettings) -> dict[str, Any]:
    """Return the training-schedule arguments of :func:`train_model`."""
    return {
        "teacher_forcing_fraction": settings.teacher_forcing_fraction,
        "min_learning_rate": settings.min_learning_rate,
        "lr_patience": settings.lr_patience,
        "val_repeats": settings.val_repeats,
    }


def _training_steps(settings: GeneratorSettings, crystals: int, epochs: int) -> int:
    """Return the most optimiser steps of a training stage."""
    return epochs * -(-crystals // settings.batch_size)


def crystal_steps(
    settings: GeneratorSettings, crystals: int, steps_per_level: int | None = None
) -> int:
    """Return the score-network calls times crystals of decoding ``crystals``.

    At ``steps_per_level`` (default ``settings.steps_per_level``): the size of
    a sampling for ``ml.compile`` ``auto``.
    """
    steps = steps_per_level or settings.steps_per_level
    return crystals * settings.num_noise_levels * steps


def diagnostic_crystal_steps(
    settings: GeneratorSettings,
    train_crystals: int,
    test_crystals: int,
    steps_per_level: int | None = None,
) -> int:
    """Return :func:`crystal_steps` of a model's diagnostics.

    Both splits (at most ``settings.diagnostic_crystals`` of the training
    one) are reconstructed with predicted and with forced compositions.
    """
    rebuilt = min(settings.diagnostic_crystals, train_crystals)
    return crystal_steps(settings, 2 * (rebuilt + test_crystals), steps_per_level)


@contextmanager
def generator_runtime(
    settings: GeneratorSettings,
    model: CrystalDiffusionVAE,
    work: int,
    *,
    training: bool = False,
) -> Iterator[bool]:
    """Run a generator job with its torch threads and, if worth it, compiled.

    ``work`` is the job's size: optimiser steps with ``training``, else
    crystals times score-network calls (``ml.compile`` ``auto`` compiles from
    :data:`~matforge.ml.runtime.COMPILE_MIN_TRAIN_STEPS` /
    :data:`~matforge.ml.runtime.COMPILE_MIN_CRYSTAL_STEPS`). The decision
    depends on the settings and the job's size only, so the same job is run
    the same way again; inside a block that already set ``ml.threads`` the
    threads are left as they are. Yields whether the blocks are compiled.
    """
    from matforge.ml.runtime import (
        COMPILE_MIN_CRYSTAL_STEPS,
        COMPILE_MIN_TRAIN_STEPS,
        compile_wanted,
        compiled_blocks,
        torch_threads,
    )

    threshold = COMPILE_MIN_TRAIN_STEPS if training else COMPILE_MIN_CRYSTAL_STEPS
    wanted = compile_wanted(settings.compile, work, threshold)
    with (
        torch_threads(settings.threads),
        compiled_blocks(model.message_blocks(), wanted, training=training) as compiled,
    ):
        yield compiled


def weights_digest(model: CrystalDiffusionVAE) -> str:
    """Return a SHA-1 of a model's weights and buffers (in key order)."""
    import hashlib

    digest = hashlib.sha1(usedforsecurity=False)
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in _VERSIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def load_model(
    factory: StoreFactory, model_id: str | None = None, device: str = "cpu"
) -> tuple[ModelDoc, CrystalDiffusionVAE]:
    """Load a stored generator and its document."""
    from matforge.ml.model import CrystalDiffusionVAE

    doc = latest_model_doc(factory, model_id)
    model = CrystalDiffusionVAE.from_bytes(
        model_checkpoint(factory, doc), map_location=device
    )
    return doc, model.eval()


def sampling_settings(
    settings: GeneratorSettings, guided: bool = False
) -> SamplingSettings:
    """Return the sampling settings from the generator settings."""
    from matforge.ml.sample import SamplingSettings

    return SamplingSettings(
        steps_per_level=settings.steps_per_level,
        step_lr=settings.step_lr,
        batch_size=settings.sample_batch_size,
        guided=guided,
        guide_steps=settings.guide_steps,
        guide_lr=settings.guide_lr,
        composition_temperature=settings.composition_temperature,
        composition=settings.composition,
        hydride_redraws=settings.hydride_redraws,
        decode_types=settings.decode_types,
        sampler=settings.sampler,
    )


def generate_candidates(
    factory: StoreFactory,
    settings: GeneratorSettings,
    num_samples: int,
    *,
    model_id: str | None = None,
    seed: int = 0,
    guided: bool = False,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
    run_id: str | None = None,
) -> list[GeneratedDoc]:
    """Sample candidates from a stored generator into the generated collection.

    ``run_id`` (the campaign) is recorded on every document and is part of
    its id.

    Returns
    -------
    list[GeneratedDoc]
        One document per candidate, in sampling order; a re-run with the same
        campaign, model, seed and settings gives the same ids and changes
        nothing.
    """
    from pymatgen.io.cif import CifWriter

    from matforge.ml.sample import sample_crystals

    doc, model = load_model(factory, model_id, device)
    sampling = sampling_settings(settings, guided)
    work = crystal_steps(settings, num_samples)
    with generator_runtime(settings, model, work):
        samples = sample_crystals(model, num_samples, seed, sampling, device, progress)
    sampling_dict = asdict(sampling)
    build = BuildMeta(
        versions=BuildMeta().versions | _versions(),
        inputs=[f"models/{doc.model_id}"],
        settings={"seed": seed, "num_samples": num_samples, **sampling_dict},
    )
    docs = []
    # the campaign is part of the id: a crystal another campaign (or a bare
    # `matforge generate`) already made is a document of its own here, so
    # each campaign relaxes and ranks the crystals it generated
    key = {"model": doc.model_id, "seed": seed, "sampling": sampling_dict}
    if run_id is not None:
        key["run"] = run_id
    for index, sample in enumerate(samples):
        structure = sample.structure
        content = structure_content(structure)
        docs.append(
            GeneratedDoc(
                generated_id="gen-"
                + content_hash({**key, "index": index, "crystal": content})[:16],
                model_id=doc.model_id,
                run_id=run_id,
                structure=structure,
                cif=str(CifWriter(structure)),
                formula=structure.composition.formula.replace(" ", ""),
                reduced_formula=structure.composition.reduced_formula,
                nsites=len(structure),
                z=sample.z,
                predicted_storage_score=sample.predicted_storage_score,
                seed=seed,
                index=index,
                sampling=sampling_dict,
                build=build,
            )
        )
    upsert_documents(
        factory.store("generated"),
        [d.model_dump(mode="json") for d in docs],
        hash_field="generated_id",
    )
    return docs


def structure_content(structure: Structure, decimals: int = 4) -> dict[str, Any]:
    """Return a crystal's species, fractional coordinates and lattice, rounded.

    What a generated crystal's id hashes: rounded (1e-4 fractional, 1e-4 A,
    wrapped into [0, 1)) so last-bit differences do not reach the id.
    """
    import numpy as np

    frac = np.mod(np.round(structure.frac_coords, decimals), 1.0)
    # (+ 0.0 turns -0.0 into 0.0: both print differently in JSON)
    return {
        "species": [site.specie.symbol for site in structure],
        "frac_coords": (np.round(frac, decimals) + 0.0).tolist(),
        "lattice": (np.round(structure.lattice.matrix, decimals) + 0.0).tolist(),
    }


def split_crystals(
    factory: StoreFactory, model_doc: ModelDoc
) -> dict[str, tuple[list[Data], list[Structure]]]:
    """Return the graphs and structures of a model's splits still in the store."""
    canonical = bool(model_doc.training.get("canonical_cell", False))
    graphs, structures = load_hydride_graphs(
        factory, model_doc.config["max_atoms"], canonical
    )
    by_id = {g.material_id: (g, s) for g, s in zip(graphs, structures, strict=True)}
    missing = [i for part in model_doc.split.values() for i in part if i not in by_id]
    if missing:
        logger.warning("%d split crystals are no longer in the store", len(missing))
    out = {}
    for name, ids in model_doc.split.items():
        found = [by_id[i] for i in ids if i in by_id]
        out[name] = ([g for g, _ in found], [s for _, s in found])
    return out


def generator_diagnostics(
    factory: StoreFactory,
    settings: GeneratorSettings,
    *,
    model_id: str | None = None,
    seed: int = 0,
    device: str = "cpu",
    refresh: bool = False,
) -> dict[str, Any]:
    """Return a model's diagnostics, computing and storing them when needed.

    Reconstruction of training and test crystals with predicted and with
    forced atom counts and compositions, the train-vs-test coverage ceiling
    and both splits' SMACT rates (:func:`matforge.ml.diagnostics.
    generator_diagnostics`). They are stored on the model document under
    ``diagnostics`` with the sampling settings and seed they used, and
    reused while those stay the same (``refresh`` recomputes).
    """
    from matforge.ml.diagnostics import generator_diagnostics as compute

    model_doc, model = load_model(factory, model_id, device)
    sampling = sampling_settings(settings)
    key = {
        "seed": seed,
        "sampling": asdict(sampling),
        "max_train": settings.diagnostic_crystals,
    }
    stored = model_doc.diagnostics
    if stored and not refresh and stored.get("key") == key:
        return stored
    parts = split_crystals(factory, model_doc)
    start = time.perf_counter()
    work = diagnostic_crystal_steps(
        settings, len(parts["train"][0]), len(parts["test"][0])
    )
    with generator_runtime(settings, model, work):
        table = compute(
            model,
            parts["train"],
            parts["test"],
            seed,
            sampling,
            device,
            max_train=settings.diagnostic_crystals,
        )
    table["seconds"] = time.perf_counter() - start
    table["key"] = key
    update_model_doc(factory, model_doc.model_id, {"diagnostics": table})
    return table


def evaluate_generator(
    factory: StoreFactory,
    docs: list[GeneratedDoc],
    settings: GeneratorSettings,
    *,
    device: str = "cpu",
    max_fingerprints: int | None = None,
    diagnostics: bool = True,
) -> dict[str, Any]:
    """Compute the metrics table of generated candidates and store it on the model.

    Reconstruction (CDVAE's: valid predictions only) runs on the model's
    test split; validity (with the training split's own SMACT rate beside
    it), uniqueness, novelty (against the train split), COV (CDVAE's fixed
    scaler, over all generated crystals unless ``max_fingerprints``) and
    Wasserstein distances on ``docs``. With ``diagnostics`` the model's
    diagnostics (:func:`generator_diagnostics`) go under ``diagnostics``, and
    the coverage ceiling beside COV as ``cov_r_ceiling`` / ``cov_p_ceiling``.
    """
    from matforge.ml.metrics import generation_metrics, reconstruction
    from matforge.ml.sample import reconstruct_crystals

    if not docs:
        raise MatforgeError("no generated candidates to evaluate")
    model_doc, model = load_model(factory, docs[0].model_id, device)
    parts = split_crystals(factory, model_doc)
    test_graphs, test_structures = parts["test"]
    found = None
    if diagnostics:
        found = generator_diagnostics(
            factory,
            settings,
            model_id=model_doc.model_id,
            seed=docs[0].seed,
            device=device,
        )
        recon = found["reconstruction"]["test"]["predicted"]
    else:
        work = crystal_steps(settings, len(test_graphs))
        with generator_runtime(settings, model, work):
            rebuilt = reconstruct_crystals(
                model, test_graphs, docs[0].seed, sampling_settings(settings), device
            )
        recon = reconstruction(rebuilt, test_structures)
    table: dict[str, Any] = {
        f"recon_{k}": v
        for k, v in recon.items()
        if k in ("match_rate", "rmse", "valid", "match_rate_any")
    }
    table.update(
        generation_metrics(
            [d.structure for d in docs],
            test_structures,
            parts["train"][1],
            max_fingerprints=max_fingerprints,
        )
    )
    table["mean_predicted_storage_score"] = sum(
        d.predicted_storage_score for d in docs
    ) / len(docs)
    table["guided"] = bool(docs[0].sampling.get("guided"))
    if found is not None:
        table["cov_r_ceiling"] = found["ceiling"]["cov_r"]
        table["cov_p_ceiling"] = found["ceiling"]["cov_p"]
        table["diagnostics"] = found
    label = "guided" if table["guided"] else "unguided"
    # (the diagnostics are on the model document already)
    stored = {k: v for k, v in table.items() if k != "diagnostics"}
    store_metrics(factory, model_doc.model_id, stored, label)
    return table


# -- the campaign's stages -----------------------------------------------------
def train_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Train the generator; checkpoint and history go to the data store."""
    doc = train_generator(
        factory, settings.ml, run_id=run_id, pretrain_dir=pretrain_folder(settings)
    )
    return {
        "model_id": doc.model_id,
        "epochs_run": doc.training["epochs_run"],
        "best_val_loss": doc.training["best_val_loss"],
        "split_sizes": doc.split_sizes,
    }


@dataclass
class TrainGeneratorMaker(StageMaker):
    """Train the crystal diffusion VAE on the hydrides."""

    name: str = "train generator"

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(
            self, "train", lambda s: s.ml.training_dump(), train_stage, upstream
        )


def generate_key(settings: MatforgeSettings) -> dict[str, Any]:
    """Return what shapes the generate stage."""
    return {
        "ml": settings.ml.model_dump(),
        "num_samples": settings.run.num_samples,
        "seed": settings.run.seed,
        "metrics": settings.run.metrics,
    }


def generate_stage(
    factory: StoreFactory,
    settings: MatforgeSettings,
    run_id: str,
    upstream: dict[str, Any] | None,
) -> dict[str, Any]:
    """Sample the campaign's crystals (CIFs in ``generated``), and their metrics."""
    if not upstream or "model_id" not in upstream:
        raise ValueError("the generate stage needs the train stage's model_id")
    docs = generate_candidates(
        factory,
        settings.ml,
        settings.run.num_samples,
        model_id=upstream["model_id"],
        seed=settings.run.seed,
        run_id=run_id,
    )
    out: dict[str, Any] = {
        "model_id": upstream["model_id"],
        "generated": len(docs),
        "generated_ids": [d.generated_id for d in docs],
    }
    if settings.run.metrics:
        table = evaluate_generator(factory, docs, settings.ml)
        out["metrics"] = {
            k: v for k, v in table.items() if isinstance(v, int | float | bool)
        }
    return out


@dataclass
class GenerateMaker(StageMaker):
    """Sample candidate crystals from the campaign's generator."""

    name: str = "generate"

    @stage_job
    def make(self, upstream: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the stage; return its small output."""
        return execute_stage(self, "generate", generate_key, generate_stage, upstream)
