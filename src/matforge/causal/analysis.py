"""The causal discovery stage as one pure function: table in, graph document out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from matforge.causal.bootstrap import BootstrapResult, bootstrap_fci
from matforge.causal.fci import Test, effective_depth, load_fci, run_fci
from matforge.causal.pag import Pag, neighbourhood
from matforge.causal.table import PreparedTable
from matforge.schemas.causal import (
    BootstrapSummary,
    CausalEdge,
    CausalGraphDoc,
    DataSnapshot,
    EdgeFrequency,
    NeighbourNode,
)
from matforge.schemas.common import BuildMeta, content_hash, package_versions

MAX_ROW_IDS = 1000
LOW_POWER_ROWS = 100


def _edges(pag: Pag, boot: BootstrapResult | None) -> list[CausalEdge]:
    edges = []
    for a, b, mark_a, mark_b in pag.edges:
        symbol = pag.symbol(a, b)
        assert symbol is not None
        edges.append(
            CausalEdge(
                a=a,
                b=b,
                mark_a=mark_a,
                mark_b=mark_b,
                stability=None if boot is None else boot.adjacency_frequency(a, b),
                mark_stability=None
                if boot is None
                else boot.edge_frequency(a, b, symbol),
            )
        )
    return edges


def _bootstrap_summary(boot: BootstrapResult) -> BootstrapSummary:
    frequencies = []
    for (a, b), count in sorted(
        boot.adjacency.items(),
        key=lambda item: (boot.nodes.index(item[0][0]), boot.nodes.index(item[0][1])),
    ):
        marks = boot.marks.get((a, b), {})
        frequencies.append(
            EdgeFrequency(
                a=a,
                b=b,
                adjacency=count / boot.succeeded,
                marks={
                    kind: n / boot.succeeded
                    for kind, n in sorted(marks.items(), key=lambda kv: -kv[1])
                },
            )
        )
    return BootstrapSummary(
        resamples=boot.resamples,
        succeeded=boot.succeeded,
        seed=boot.seed,
        runtime_s=boot.runtime_s,
        edges=frequencies,
        failures=boot.failures,
    )


def graph_id_of(table_hash: str, parameters: dict[str, Any]) -> str:
    """Return the id of an analysis: a hash of its data and its parameters."""
    return "cg-" + content_hash({"table": table_hash, **parameters})[:20]


def discover(
    table: PreparedTable,
    *,
    test: Test = "fisherz",
    alpha: float = 0.05,
    depth: int = -1,
    tiers: Sequence[Sequence[str]] = (),
    bootstrap: int = 100,
    seed: int = 0,
    stability_threshold: float = 0.5,
    collinearity_r2: float = 0.9999,
    inputs: Sequence[str] = (),
    settings: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> CausalGraphDoc:
    """Find the PAG of a table, the target's neighbourhood and its stable features.

    Parameters
    ----------
    table
        The prepared table (see :func:`~matforge.causal.table.prepare_table`).
    test, alpha, depth
        FCI's independence test, significance level and depth.
    tiers
        Background knowledge: table columns by tier, earliest first (empty:
        none). One-hot nodes take the tier of their column.
    bootstrap
        Number of bootstrap resamples, B (0: none).
    seed
        Seed of the resampling.
    stability_threshold
        Share of resamples in which a feature must be adjacent to the target to
        be selected.
    collinearity_r2
        R^2 above which a column of a resample is dropped.
    inputs
        Where the data came from, for the build metadata.
    settings
        Further settings to record in the build metadata.
    progress
        Called with 1 after every bootstrap resample.

    Returns
    -------
    CausalGraphDoc
        The document, without artefacts.
    """
    nodes = list(table.nodes)
    target = table.target
    node_tiers = [
        [info.name for info in table.columns if info.tier == level]
        for level in range(len(tiers))
    ]
    node_tiers = [tier for tier in node_tiers if tier]
    n_rows = table.data.shape[0]
    used_depth = effective_depth(depth, n_rows, len(nodes), test)

    load_fci()
    start = time.perf_counter()
    pag = run_fci(
        table.data, nodes, test=test, alpha=alpha, depth=depth, tiers=node_tiers
    )
    runtime = time.perf_counter() - start

    boot = None
    if bootstrap > 0:
        boot = bootstrap_fci(
            table.data,
            nodes,
            target,
            resamples=bootstrap,
            seed=seed,
            test=test,
            alpha=alpha,
            depth=depth,
            tiers=node_tiers,
            collinearity_r2=collinearity_r2,
            progress=progress,
        )
        if boot.succeeded == 0:
            boot = None

    near = neighbourhood(pag, target)
    members = [
        NeighbourNode(
            name=n.name,
            feature=table.feature_of(n.name),
            relation=n.relation,  # type: ignore[arg-type]
            edge=n.edge,
            path=list(n.path),
            stability=None
            if boot is None
            else boot.adjacency_frequency(n.name, target),
            neighbourhood_frequency=None
            if boot is None
            else boot.neighbourhood_frequency(n.name),
        )
        for n in near
    ]

    # Selected features: columns stably adjacent to the target.
    link: dict[str, float] = {}
    for node in nodes:
        if node == target:
            continue
        if boot is not None:
            share = boot.adjacency_frequency(node, target)
        else:
            share = 1.0 if pag.mark(node, target) is not None else 0.0
        feature = table.feature_of(node)
        link[feature] = max(link.get(feature, 0.0), share)
    selected = sorted(
        (f for f, share in link.items() if share >= stability_threshold),
        key=lambda f: (-link[f], f),
    )

    parameters = {
        "target": target,
        "test": test,
        "alpha": alpha,
        "depth": depth,
        "tiers": node_tiers,
        "bootstrap": bootstrap,
        "seed": seed,
        "stability_threshold": stability_threshold,
        "collinearity_r2": collinearity_r2,
    }
    notes = []
    if n_rows < LOW_POWER_ROWS:
        notes.append(
            f"only {n_rows} rows: the tests have little power, so missing edges "
            "are weak evidence of independence"
        )
    if bootstrap > 0 and boot is None:
        notes.append(f"the bootstrap failed on all {bootstrap} resamples")
    elif boot is not None and boot.succeeded < bootstrap:
        notes.append(f"the bootstrap ran on {boot.succeeded} of {bootstrap} resamples")
    if node_tiers:
        notes.append(
            "background knowledge: causal-learn orients every edge across tiers "
            "as -->, assuming no hidden common cause across tiers"
        )
    notes += [
        f"dropped {d.name}: {d.reason}"
        for d in [*table.dropped_rows, *table.dropped_columns]
    ]
    snapshot = DataSnapshot(
        source=table.source,
        n_rows_read=table.n_rows_read,
        n_rows_used=n_rows,
        row_ids=list(table.row_ids) if n_rows <= MAX_ROW_IDS else [],
        table_hash=table.table_hash,
        newest_input=table.newest_input,
        dropped_rows=list(table.dropped_rows),
    )
    return CausalGraphDoc(
        graph_id=graph_id_of(table.table_hash, parameters),
        target=target,
        nodes=nodes,
        edges=_edges(pag, boot),
        test=test,
        alpha=alpha,
        depth=used_depth,
        n_samples=n_rows,
        runtime_s=runtime,
        tiers=node_tiers,
        columns=list(table.columns),
        dropped_columns=list(table.dropped_columns),
        data=snapshot,
        neighbourhood=members,
        bootstrap=None if boot is None else _bootstrap_summary(boot),
        stability_threshold=stability_threshold,
        selected_features=selected,
        notes=notes,
        build=BuildMeta(
            versions=package_versions(("causal-learn", "scipy")),
            inputs=list(inputs) or [table.source],
            settings={**parameters, **(settings or {})},
        ),
    )
