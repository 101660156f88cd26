"""The paper-scale discovery campaign: 450 hydrides, 1,000 candidates, timed per stage.

    python bench/campaign.py [--home DIR] [--target 450] [--samples 1000]
                             [--potential NAME] [--seed 0]

Steps, all on the embedded store in ``--home`` (a fresh temporary folder when
not given; an existing home is reused, so a killed bench resumes):

1. ``matforge ingest offline`` (the 104 real hydrides);
2. dataset expansion to ``--target`` hydrides when the store holds fewer
   (curation, timed apart: it is done once per dataset, not per campaign);
3. the discovery flow of ``matforge run`` with ``run.num_samples = --samples``
   and the default settings otherwise: MP-20 pre-training, training on the
   hydrides (270/90/90 split at 450), generation, ML relaxation, candidates,
   report.

Prints the time of every stage, the campaign's total (goal: at most 90
minutes on the 2-core machine), the expansion's time, and the peak resident
memory of this process and of its children. Asserts nothing. A stage that
already ran for the same settings is skipped by the flow (and shows as such).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path


def peak_rss_mb() -> tuple[float, float]:
    """Return the peak resident memory (MB) of this process and its children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def prepare_dataset(settings, target: int) -> dict:
    """Ingest the offline hydrides and expand them to ``target``; return timings."""
    from matforge.data.sources import ingest_offline
    from matforge.stores import StoreFactory

    figures: dict = {}
    started = time.perf_counter()
    with StoreFactory(settings) as factory:
        ingest_offline(factory)
        hydrides = factory.store("hydrides").count()
    figures["ingest_s"] = time.perf_counter() - started
    print(f"ingest       : {hydrides} hydrides in {figures['ingest_s']:.1f} s")

    figures["expansion_s"] = 0.0
    if hydrides < target:
        from matforge.flows.expand import expand_dataset
        from matforge.flows.relax import potential_of

        started = time.perf_counter()
        spec = potential_of(settings, settings.expand.potential)
        with StoreFactory(settings) as factory:
            expand_dataset(factory, spec, target=target)
            hydrides = factory.store("hydrides").count()
        figures["expansion_s"] = time.perf_counter() - started
    figures["hydrides"] = hydrides
    print(
        f"expansion    : {hydrides} hydrides "
        f"({figures['expansion_s'] / 60:.1f} min; curation, not part of the campaign)"
    )
    return figures


REASON_KINDS = (
    ("the relaxation failed", "relaxation failed"),
    ("did not converge", "not converged"),
    ("charge neutral", "not charge neutral"),
    ("formation energy", "formation energy too high or unknown"),
    ("above the hull", "too far above the hull"),
)
"""Substring of a candidate's reason, and the kind it is counted under; any
other reason (no metal, atoms too close, a collapsed cell) is "structure"."""
ENERGY_KINDS = {"formation energy too high or unknown", "too far above the hull"}


def reason_kinds(reasons: list[str]) -> set[str]:
    """Return the kinds of a crystal's invalidity reasons."""
    kinds = set()
    for reason in reasons:
        kind = next((k for text, k in REASON_KINDS if text in reason), "structure")
        kinds.add(kind)
    return kinds


def campaign_quality(settings, run_id: str) -> dict:
    """Print and return S.U.N., relaxation and validity figures of a campaign."""
    import statistics

    from matforge.stores import StoreFactory
    from matforge.stores.queries import scan_documents
    from matforge.stores.runs import run_summary

    with StoreFactory(settings) as factory:
        sun = run_summary(factory, run_id, top=0).get("sun") or {}
        relaxed = list(
            scan_documents(
                factory.store("relaxed"),
                ["steps", "failed", "converged"],
                "run_id",
                [run_id],
            )
        )
        verdicts = list(
            scan_documents(
                factory.store("candidates"),
                ["status", "is_stable", "is_metastable", "reasons"],
                "run_id",
                [run_id],
            )
        )
    steps = [d["steps"] for d in relaxed if isinstance(d.get("steps"), int)]
    invalid = sum(d.get("status") == "invalid" for d in verdicts)
    kinds = [
        reason_kinds(d.get("reasons") or [])
        for d in verdicts
        if d.get("status") == "invalid"
    ]
    by_kind = {k: sum(k in ks for ks in kinds) for _, k in REASON_KINDS}
    by_kind["structure"] = sum("structure" in ks for ks in kinds)
    energy_only = sum(bool(ks) and ks <= ENERGY_KINDS for ks in kinds)
    out = {
        "sun": sun,
        "median_relax_steps": statistics.median(steps) if steps else None,
        "mean_relax_steps": statistics.fmean(steps) if steps else None,
        "not_converged": sum(not d.get("converged") for d in relaxed),
        "invalid_after_relaxation": invalid,
        "invalid_by_reason": by_kind,
        "invalid_for_energy_only": energy_only,
        "judged": len(verdicts),
        "stable_candidates": sum(
            bool(d.get("is_stable")) for d in verdicts if d.get("status") == "candidate"
        ),
    }
    print(
        f"relaxation steps: median {out['median_relax_steps']}, mean "
        f"{out['mean_relax_steps'] and round(out['mean_relax_steps'], 1)}; "
        f"{out['not_converged']} of {len(relaxed)} not converged"
    )
    print(
        f"invalid after relaxation: {invalid} of {len(verdicts)} "
        f"({100 * invalid / max(len(verdicts), 1):.1f} %); for its energy alone "
        f"{energy_only}, for anything else {invalid - energy_only}"
    )
    print(
        "  reasons (a crystal may have several): "
        + ", ".join(f"{k} {n}" for k, n in by_kind.items())
    )
    for t in sun.get("thresholds", []):
        print(
            f"S.U.N. within {t['threshold']:g} eV/atom of the MP hull: {t['sun']} of "
            f"{sun['total']} = {100 * t['sun_rate']:.1f} % (stable {t['stable']}, "
            f"new formula {t['sun_new_formula']})"
        )
    print(
        "  published S.U.N. (MatterGen's paper, its own protocol on MP-20): "
        "CDVAE 14.0 %, MatterGen 38.6 %"
    )
    if sun.get("mean_rmsd") is not None:
        print(
            f"mean RMSD generated -> relaxed: {sun['mean_rmsd']:.3f} A "
            f"({sun['rmsd_count']} crystals; MatterGen's loose matcher)"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--target", type=int, default=450)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--potential", default=None, help="run.potential")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="Write figures here.")
    parser.add_argument(
        "--report",
        metavar="RUN_ID",
        default=None,
        help="Only print the quality figures of this finished campaign in --home.",
    )
    args = parser.parse_args()
    if args.report and args.home is None:
        parser.error("--report needs the --home that holds the campaign")

    home = args.home or Path(tempfile.mkdtemp(prefix="matforge-campaign-"))
    os.environ["MATFORGE_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from matforge.cli.run import _flow_logging
    from matforge.flows.discovery import run_discovery
    from matforge.settings import load_settings

    if args.report:
        figures = campaign_quality(load_settings(), args.report)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2, default=str))
        return
    _flow_logging()  # the stage lines of `matforge run`, on stderr

    run = {"num_samples": args.samples, "seed": args.seed}
    if args.potential:
        run["potential"] = args.potential
    settings = load_settings(run=run)  # the flow's jobs carry these settings
    figures: dict = {"home": str(home), "samples": args.samples}
    print(f"home: {home}")
    figures |= prepare_dataset(settings, args.target)

    summary = run_discovery(settings)
    total = 0.0
    print(f"campaign {summary['run_id']}")
    print(f"{'stage':<12} {'status':<7} {'count':>6} {'minutes':>8}  skipped")
    figures["stages"] = []
    for stage in summary["stages"]:
        seconds = stage.get("seconds") or 0.0
        total += 0.0 if stage.get("skipped") else seconds
        figures["stages"].append(stage | {"finished_at": str(stage["finished_at"])})
        print(
            f"{stage['stage']:<12} {stage['status']:<7} {stage['count']!s:>6} "
            f"{seconds / 60:>8.2f}  {bool(stage.get('skipped'))}"
        )
    own, children = peak_rss_mb()
    figures |= {
        "campaign_minutes": total / 60,
        "wall_minutes": summary["seconds"] / 60,
        "peak_rss_mb": own,
        "peak_rss_children_mb": children,
        "top": [
            {k: c.get(k) for k in ("formula", "storage_score", "e_above_hull")}
            for c in summary["top_candidates"][:10]
        ],
    }
    print(
        f"campaign total: {total / 60:.1f} min of stages run now "
        f"(wall {summary['seconds'] / 60:.1f} min; goal <= 90 min on 2 cores)"
    )
    print(f"peak memory: {own:.0f} MB (this process), {children:.0f} MB (children)")
    figures |= campaign_quality(settings, summary["run_id"])
    for row in figures["top"]:
        print(f"  {row['formula']:<14} score {row['storage_score']}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
