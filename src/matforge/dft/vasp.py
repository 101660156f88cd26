"""VASP on clusters: atomate2's Materials Project workflow for a structure.

Each structure (a candidate or an elemental reference) gets atomate2's
:class:`~atomate2.vasp.flows.mp.MPGGADoubleRelaxStaticMaker`: two PBE
relaxations and a static with MP's input sets (``MPRelaxSet`` /
``MPStaticSet``: ENCUT 520 eV, PAW PBE POTCARs of MP's choice, MP's U values
and initial moments), the setting of every MP formation energy. The flows are
tagged with the ``dft_tasks`` id they will fill, joined into one flow and
turned into a FireWorks workflow (``jobflow.managers.fireworks``).

The finished static's atomate2 task document (``TaskDoc``) becomes a
``dft_tasks`` document with :func:`result_from_task_doc` and
:func:`matforge.dft.tasks.task_document`, with the same MP2020 corrections and
formation energy as a GPAW result. Nothing here needs VASP or POTCAR files:
input sets are described with POTCAR symbols only (``potcar_spec``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

from matforge.dft.availability import DftError
from matforge.dft.runner import DftCalcResult

if TYPE_CHECKING:
    from fireworks import Workflow
    from jobflow import Flow, Job
    from pymatgen.core import Structure

METADATA_KEY = "matforge_dft"
"""Job metadata key that carries the ``dft_tasks`` identity of a VASP flow."""

FINAL_JOB = "MP GGA static"


def atomate2_version() -> str:
    """Return atomate2's version (it writes the MP input sets)."""
    try:
        return metadata.version("atomate2")
    except metadata.PackageNotFoundError:
        return "missing"


def vasp_flow(structure: Structure, name: str, tag: dict[str, Any]) -> Flow:
    """Return atomate2's MP GGA double relaxation + static flow for a structure.

    Parameters
    ----------
    structure
        The structure.
    name
        The flow's name.
    tag
        The ``dft_tasks`` identity (``task_id``, ``purpose``, ...), put into the
        metadata of every job under :data:`METADATA_KEY`.

    Returns
    -------
    jobflow.Flow
        Three VASP jobs: relax 1, relax 2, static.
    """
    from atomate2.vasp.flows.mp import MPGGADoubleRelaxStaticMaker

    flow = MPGGADoubleRelaxStaticMaker(name=name).make(structure)
    flow.update_metadata({METADATA_KEY: dict(tag)})
    return flow


def flow_jobs(flow: Flow) -> list[Job]:
    """Return the jobs of a flow, in order."""
    return [job for job, _parents in flow.iterflow()]


def input_sets(flow: Flow, structure: Structure) -> dict[str, Any]:
    """Return the VASP input set of every job of a flow, POTCAR symbols only.

    The later jobs start from their predecessor's output; here every set is
    written for ``structure``, which is what can be checked without VASP.

    Returns
    -------
    dict
        Job name -> pymatgen ``VaspInput`` (``INCAR``, ``KPOINTS``, ``POSCAR``,
        ``POTCAR.spec``).
    """
    sets = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for job in flow_jobs(flow):
            generator = job.maker.input_set_generator
            sets[job.name] = generator.get_input_set(structure, potcar_spec=True)
    return sets


def validation_workflow(flows: Sequence[Flow], name: str) -> Workflow:
    """Join flows into one FireWorks workflow (one firework per VASP job).

    The workflow carries no store: outputs go to the jobflow ``JOB_STORE`` of
    the machine that runs it (``~/.jobflow.yaml``), which should be matforge's
    database so that ``matforge validate --code vasp --collect`` finds them.

    Raises
    ------
    DftError
        If FireWorks is not installed.
    """
    from jobflow import Flow

    try:
        from jobflow.managers.fireworks import flow_to_workflow
    except ImportError as exc:
        raise DftError(
            f"FireWorks is not installed ({exc}): pip install fireworks, or the "
            "dft extra (./install.sh)"
        ) from None

    with warnings.catch_warnings():
        # the flows are independent of each other, on purpose
        warnings.filterwarnings("ignore", "Some jobs are not connected")
        return flow_to_workflow(Flow(list(flows), name=name))


def result_from_task_doc(doc: dict[str, Any], label: str) -> DftCalcResult:
    """Turn an atomate2 VASP task document (a dict) into a DFT result.

    Parameters
    ----------
    doc
        The static job's output: emmet's ``TaskDoc`` as stored by jobflow.
    label
        The ``dft_tasks`` id it fills.

    Returns
    -------
    DftCalcResult
        Energy and structure of the static, ``ok`` False with the reason when
        VASP did not succeed.
    """
    from pymatgen.core import Structure

    output = doc.get("output") or {}
    state = str(doc.get("state") or "")
    structure = output.get("structure") or doc.get("structure")
    energy = output.get("energy")
    calcs = doc.get("calcs_reversed") or [{}]
    incar = ((calcs[0] or {}).get("input") or {}).get("incar") or {}
    if state != "successful" or energy is None or structure is None:
        return DftCalcResult(
            label=label,
            ok=False,
            task_doc=doc,
            parameters=dict(incar),
            error=f"VASP task state {state or 'unknown'}"
            + ("" if energy is not None else ", no energy"),
            workdir=doc.get("dir_name"),
        )
    stats = doc.get("run_stats") or {}
    overall = stats.get("overall") if isinstance(stats, dict) else None
    seconds = float((overall or {}).get("Elapsed time") or 0.0)
    return DftCalcResult(
        label=label,
        ok=True,
        energy=float(energy),
        structure=structure
        if not isinstance(structure, dict)
        else Structure.from_dict(structure),
        converged=True,
        seconds=seconds,
        task_doc=doc,
        parameters=dict(incar),
        workdir=doc.get("dir_name"),
    )
