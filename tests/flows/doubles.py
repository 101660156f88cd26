"""A test double of the relax stage: NOT physics, for flow tests only.

The ML-potential package (``matforge.potentials``) is not part of this
checkout; the flow tests put this stand-in in place of
``matforge.flows.relax.relax_generated``. It "relaxes" nothing: the relaxed
structure is the generated one, and the energies are a fixed function of the
composition, so runs are cheap and deterministic.
"""

from __future__ import annotations

from typing import Any

DOUBLE_POTENTIAL = "test-double"


def fake_relax_generated(
    factory: Any,
    run_id: str,
    settings: Any,
    generated_ids: list[str],
    potential: str | None = None,
) -> dict[str, Any]:
    """Write one RelaxedDoc per generated crystal with made-up energies."""
    from pymatgen.core import Structure

    from matforge.schemas.relaxed import RelaxedDoc
    from matforge.stores import upsert_documents

    wanted = set(generated_ids)
    docs = []
    for doc in factory.store("generated").query(
        properties=["generated_id", "structure"]
    ):
        if doc["generated_id"] not in wanted:
            continue
        structure = Structure.from_dict(doc["structure"])
        comp = structure.composition
        h_fraction = comp.get_atomic_fraction("H") if comp["H"] else 0.0
        e_form = round(-0.6 * h_fraction + 0.05 * len(comp.elements) - 0.1, 6)
        docs.append(
            RelaxedDoc.from_relaxation(
                generated_id=doc["generated_id"],
                initial_structure=structure,
                structure=structure,
                potential=DOUBLE_POTENTIAL,
                converged=True,
                energy_per_atom=e_form - 3.0,
                formation_energy_per_atom=e_form,
                e_above_hull=0.01,
                steps=0,
                max_force=0.0,
                run_id=run_id,
                e_threshold=settings.score.e_threshold,
                sigma=settings.score.sigma,
            ).model_dump(mode="json")
        )
    upsert_documents(factory.store("relaxed"), docs, "relaxed_id")
    return {"relaxed": len(docs), "converged": len(docs), "failed": 0}


def install() -> None:
    """Put the double in place (for subprocesses that cannot monkeypatch)."""
    import matforge.flows.relax

    matforge.flows.relax.relax_generated = fake_relax_generated


def main_with_double(entry: str) -> None:
    """Install the double, then run a console entry point (``matforge``, ...)."""
    install()
    if entry == "matforge":
        from matforge.cli import main

        main()
    elif entry == "rlaunch":
        from fireworks.scripts.rlaunch_run import rlaunch

        rlaunch()
    else:
        raise ValueError(entry)
