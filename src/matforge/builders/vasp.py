"""Finished VASP calculations of the job store -> ``dft_tasks`` (a maggma Builder).

``matforge validate --code vasp`` plans atomate2's MP workflows and stores a
``submitted`` placeholder in ``dft_tasks`` for each task; the cluster's jobs
write their task documents into the jobflow job store, each tagged with its
matforge task id (:data:`matforge.dft.vasp.METADATA_KEY`). This builder reads
the finished statics of the open tasks and turns them into ``dft_tasks``
documents with MP2020-corrected energies and, for candidates, formation
energies against the references of the same settings.

References must be collected before the candidates that use them: run the
builder with ``purpose="reference"`` first, then ``purpose="candidate"``
(:func:`collect_vasp_tasks` does both). A candidate whose references are not
finished stays ``submitted`` and is collected by a later run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from maggma.core import Builder
from pymatgen.core import Structure

from matforge.dft.tasks import reference_task_id, task_document
from matforge.dft.vasp import METADATA_KEY, result_from_task_doc
from matforge.schemas.dft import ReferenceUse
from matforge.stores.dft import open_tasks, store_tasks, successful_tasks

if TYPE_CHECKING:
    from maggma.core import Store

    from matforge.schemas.dft import DftTaskDoc

STATIC_LABEL = "MP GGA static"
"""The name of the atomate2 job whose output is a task's final energy."""


class VaspTaskBuilder(Builder):
    """Turn finished VASP statics into ``dft_tasks`` documents.

    Parameters
    ----------
    jobs
        Source: the jobflow job store the cluster wrote to (a ``JobStore``).
    dft_tasks
        Source and target: the task documents (key ``task_id``).
    purpose
        ``reference`` or ``candidate``: which open tasks to collect.
    """

    def __init__(self, jobs: Any, dft_tasks: Store, purpose: str) -> None:
        if purpose not in {"reference", "candidate"}:
            raise ValueError(f"purpose must be reference or candidate, not {purpose}")
        self.jobs = jobs
        self.dft_tasks = dft_tasks
        self.purpose = purpose
        self.written: list[DftTaskDoc] = []
        super().__init__(sources=[jobs, dft_tasks], targets=[dft_tasks])

    def get_items(self) -> Iterator[dict[str, Any]]:
        """Yield each open task of the purpose whose static has finished.

        Each item holds the placeholder, the static's output and, for a
        candidate, the references of its elements (all finished, else the
        candidate is not yielded).
        """
        waiting = {
            tid: doc
            for tid, doc in open_tasks(self.dft_tasks, "vasp").items()
            if doc.get("purpose") == self.purpose
        }
        if not waiting:
            return
        for job_doc in self.jobs.query(
            {f"metadata.{METADATA_KEY}.task_id": {"$in": sorted(waiting)}},
            load=True,
        ):
            output = job_doc.get("output")
            tag = (job_doc.get("metadata") or {}).get(METADATA_KEY) or {}
            if not isinstance(output, dict) or (
                output.get("task_label", job_doc.get("name")) != STATIC_LABEL
            ):
                continue
            old = waiting[tag["task_id"]]
            item = {"tag": tag, "output": output, "old": old, "references": {}}
            if self.purpose == "candidate":
                structure = Structure.from_dict(old["input_structure"])
                named = tag.get("reference_ids") or {}
                ids = {
                    named.get(el.symbol)
                    or reference_task_id(tag["settings_hash"], el.symbol): el.symbol
                    for el in structure.composition
                }
                found = successful_tasks(self.dft_tasks, list(ids))
                if len(found) < len(ids):
                    continue  # its references are not finished yet
                item["references"] = {
                    ids[tid]: {"task_id": tid, "energy_per_atom": d["energy_per_atom"]}
                    for tid, d in found.items()
                }
            yield item

    def process_item(self, item: dict[str, Any]) -> DftTaskDoc:
        """Return the task document of one finished static (pure)."""
        tag, old = item["tag"], item["old"]
        return task_document(
            result_from_task_doc(item["output"], tag["task_id"]),
            task_id=tag["task_id"],
            purpose=tag["purpose"],
            code="vasp",
            code_version=old["code_version"],
            hash_=tag["settings_hash"],
            input_structure=Structure.from_dict(old["input_structure"]),
            relaxed=True,
            references={
                el: ReferenceUse(**ref) for el, ref in item["references"].items()
            },
            predicted=old.get("predicted_formation_energy_per_atom"),
            candidate_id=old.get("candidate_id"),
            relaxed_id=old.get("relaxed_id"),
            element=old.get("element"),
            material_id=old.get("material_id"),
        )

    def update_targets(self, items: list[DftTaskDoc]) -> None:
        """Write the task documents."""
        store_tasks(self.dft_tasks, items)
        self.written.extend(items)

    def finalize(self) -> None:
        """Leave the stores open: they belong to the store factory."""


def collect_vasp_tasks(jobs: Any, dft_tasks: Store) -> list[DftTaskDoc]:
    """Collect finished references, then candidates; return the documents written."""
    from matforge.builders.candidates import run_builder

    written: list[DftTaskDoc] = []
    for purpose in ("reference", "candidate"):
        builder = VaspTaskBuilder(jobs, dft_tasks, purpose)
        run_builder(builder)
        written += builder.written
    return written
