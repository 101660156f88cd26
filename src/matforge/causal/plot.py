"""Pictures of a PAG: Graphviz DOT source and a PNG drawn with matplotlib.

Both show the endpoint marks (tail: plain end, arrow: head, circle: open
circle) and each edge's bootstrap stability.
"""

from __future__ import annotations

import io
import itertools
import math
import textwrap
from typing import TYPE_CHECKING

from matforge.schemas.causal import CausalEdge, CausalGraphDoc
from matforge.settings import DEFAULT_TIERS

TIER_NAMES = ("composition", "structure", "energy", "score")

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.text import Text

_DOT_MARK = {"tail": "none", "arrow": "normal", "circle": "odot"}
_TARGET_COLOUR = "#f4a259"
_NEAR_COLOUR = "#9ecae1"
_OTHER_COLOUR = "#e5e5e5"
_EDGE_COLOUR = "#333333"
_TARGET_EDGE_COLOUR = "#b2182b"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(doc: CausalGraphDoc) -> str:
    """Return the Graphviz DOT source of the PAG.

    Edges are drawn with ``dir=both``: ``arrowtail`` is the mark at the first
    node, ``arrowhead`` the mark at the second (``none`` tail, ``normal``
    arrow, ``odot`` circle); the label is the bootstrap stability.

    Parameters
    ----------
    doc
        The graph document.

    Returns
    -------
    str
        DOT source.
    """
    near = {n.name for n in doc.neighbourhood}
    selected = set(doc.selected_features)
    lines = [
        "digraph PAG {",
        f"  label={_quote(_title(doc))};",
        "  labelloc=t;",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica];',
        "  edge [dir=both, fontname=Helvetica, fontsize=10];",
    ]
    feature = {c.name: c.feature for c in doc.columns}
    for node in doc.nodes:
        colour = (
            _TARGET_COLOUR
            if node == doc.target
            else _NEAR_COLOUR
            if node in near
            else _OTHER_COLOUR
        )
        extra = ", penwidth=2.5" if feature.get(node) in selected else ""
        lines.append(f"  {_quote(node)} [fillcolor={_quote(colour)}{extra}];")
    for edge in doc.edges:
        attrs = [
            f"arrowtail={_DOT_MARK[edge.mark_a]}",
            f"arrowhead={_DOT_MARK[edge.mark_b]}",
        ]
        if edge.stability is not None:
            attrs.append(f"label={_quote(f'{edge.stability:.2f}')}")
            attrs.append(f"penwidth={1 + 3 * edge.stability:.2f}")
        if doc.target in (edge.a, edge.b):
            attrs.append(f"color={_quote(_TARGET_EDGE_COLOUR)}")
        lines.append(f"  {_quote(edge.a)} -> {_quote(edge.b)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _title(doc: CausalGraphDoc) -> str:
    text = (
        f"Causal graph around {doc.target}: FCI, {doc.test}, alpha = {doc.alpha:g}, "
        f"{doc.n_samples} rows"
    )
    if doc.tiers:
        text += f", {len(doc.tiers)} tiers of background knowledge"
    return text


def _wrap(name: str, width: int = 16) -> str:
    """Break a long name into lines after its underscores."""
    lines: list[str] = []
    for part in name.split("_"):
        piece = part if not lines else f"_{part}"
        if lines and len(lines[-1]) + len(piece) <= width:
            lines[-1] += piece
        elif lines:
            lines[-1] += "_"
            lines.append(part)
        else:
            lines.append(part)
    return "\n".join(lines)


def _box(ax: Axes, text: Text) -> tuple[float, float, float, float]:
    """Return the data extent (x0, y0, x1, y1) of a text's box."""
    renderer = ax.figure.canvas.get_renderer()
    patch = text.get_bbox_patch()
    extent = (patch or text).get_window_extent(renderer)
    (x0, y0), (x1, y1) = ax.transData.inverted().transform(
        [[extent.x0, extent.y0], [extent.x1, extent.y1]]
    )
    return x0, y0, x1, y1


def _circle_layout(
    doc: CausalGraphDoc, nodes: list[str]
) -> dict[str, tuple[float, float]]:
    """Place nodes on an ellipse, the target on the right."""
    rest = [n for n in nodes if n != doc.target]
    ordered = [doc.target, *rest] if doc.target in nodes else rest
    count = max(len(ordered), 1)
    return {
        name: (
            1.25 * math.cos(2 * math.pi * i / count),
            0.95 * math.sin(2 * math.pi * i / count),
        )
        for i, name in enumerate(ordered)
    }


def _layered_layout(
    doc: CausalGraphDoc, nodes: list[str]
) -> dict[str, tuple[float, float]]:
    """Place nodes in columns by tier (untiered first), ordered to cut crossings."""
    tier = {name: i for i, names in enumerate(doc.tiers) for name in names}
    untiered = [n for n in nodes if n not in tier]
    columns = [untiered] if untiered else []
    columns += [[n for n in names if n in nodes] for names in doc.tiers]
    columns = [c for c in columns if c]
    neighbours: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in doc.edges:
        neighbours[edge.a].append(edge.b)
        neighbours[edge.b].append(edge.a)
    xs = [
        -1.4 + 2.8 * i / (len(columns) - 1) if len(columns) > 1 else 0.0
        for i in range(len(columns))
    ]

    def place(column: list[str]) -> dict[str, float]:
        step = min(0.32, 2.0 / max(len(column) - 1, 1))
        top = step * (len(column) - 1) / 2
        return {n: top - i * step for i, n in enumerate(column)}

    y: dict[str, float] = {}
    for column in columns:
        y.update(place(column))
    column_of = {n: i for i, column in enumerate(columns) for n in column}
    for _ in range(12):  # barycentre sweeps over the other columns' neighbours
        for i, column in enumerate(columns):

            def centre(n: str, i: int = i) -> float:
                others = [y[m] for m in neighbours[n] if column_of[m] != i]
                return sum(others) / len(others) if others else y[n]

            column.sort(key=lambda n: -centre(n))
            y.update(place(column))
    return {n: (xs[column_of[n]], y[n]) for n in nodes}


def _bezier(
    a: tuple[float, float], b: tuple[float, float], bend: float, samples: int = 240
) -> list[tuple[float, float]]:
    """Points of a quadratic curve from a to b, bulging sideways by ``bend``."""
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    dx, dy = b[0] - a[0], b[1] - a[1]
    control = (mx - dy * bend, my + dx * bend)
    points = []
    for k in range(samples + 1):
        t = k / samples
        u = 1 - t
        points.append(
            (
                u * u * a[0] + 2 * u * t * control[0] + t * t * b[0],
                u * u * a[1] + 2 * u * t * control[1] + t * t * b[1],
            )
        )
    return points


def _inside(
    point: tuple[float, float],
    box: tuple[float, float, float, float],
    margin: float = 0.0,
) -> bool:
    x0, y0, x1, y1 = box
    return (
        x0 - margin <= point[0] <= x1 + margin
        and y0 - margin <= point[1] <= y1 + margin
    )


def _route(
    a: tuple[float, float],
    b: tuple[float, float],
    obstacles: list[tuple[float, float, float, float]],
) -> list[tuple[float, float]]:
    """Return a straight or bent line from a to b crossing the fewest boxes."""
    best: list[tuple[float, float]] = []
    fewest = math.inf
    for bend in (0.0, 0.12, -0.12, 0.22, -0.22, 0.35, -0.35, 0.5, -0.5):
        points = _bezier(a, b, bend)
        hits = sum(any(_inside(p, box, 0.02) for box in obstacles) for p in points)
        if hits < fewest:
            best, fewest = points, hits
        if hits == 0:
            break
    return best


def _trim(points: list[tuple[float, float]], length: float) -> int:
    """Index of the first point at least ``length`` along the polyline."""
    walked = 0.0
    for k in range(1, len(points)):
        walked += math.dist(points[k - 1], points[k])
        if walked >= length:
            return k
    return len(points) - 1


def _draw_nodes(
    ax: Axes, doc: CausalGraphDoc, pos: dict[str, tuple[float, float]]
) -> dict[str, Text]:
    near = {n.name for n in doc.neighbourhood}
    feature = {c.name: c.feature for c in doc.columns}
    selected = set(doc.selected_features)
    texts: dict[str, Text] = {}
    for name, xy in pos.items():
        colour = (
            _TARGET_COLOUR
            if name == doc.target
            else _NEAR_COLOUR
            if name in near
            else _OTHER_COLOUR
        )
        bold = feature.get(name) in selected or name == doc.target
        texts[name] = ax.text(
            *xy,
            _wrap(name),
            ha="center",
            va="center",
            fontsize=10,
            fontweight="bold" if bold else "normal",
            zorder=4,
            bbox={
                "boxstyle": "round,pad=0.35",
                "facecolor": colour,
                "edgecolor": "black",
                "linewidth": 2.2 if bold else 0.8,
            },
        )
    return texts


def _draw_edge(
    ax: Axes,
    edge: CausalEdge,
    colour: str,
    pos: dict[str, tuple[float, float]],
    boxes: dict[str, tuple[float, float, float, float]],
    radius: float,
) -> None:
    """Draw one edge: its line, arrow heads, circles and stability."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    others = [box for name, box in boxes.items() if name not in (edge.a, edge.b)]
    points = _route(pos[edge.a], pos[edge.b], others)
    first = next(k for k, p in enumerate(points) if not _inside(p, boxes[edge.a]))
    last = max(k for k, p in enumerate(points) if not _inside(p, boxes[edge.b]))
    points = points[first : last + 1]
    if len(points) < 2:
        return
    share = 1.0 if edge.stability is None else edge.stability
    circles = []
    if edge.mark_a == "circle":
        circles.append(points[_trim(points, radius)])
        points = points[_trim(points, 2 * radius) :]
    if edge.mark_b == "circle":
        backwards = points[::-1]
        circles.append(backwards[_trim(backwards, radius)])
        points = backwards[_trim(backwards, 2 * radius) :][::-1]
    head_a = "<|" if edge.mark_a == "arrow" else ""
    head_b = "|>" if edge.mark_b == "arrow" else ""
    ax.add_patch(
        FancyArrowPatch(
            path=Path(points),
            arrowstyle=f"{head_a}-{head_b}",
            mutation_scale=18,
            linewidth=1.0 + 2.5 * share,
            color=colour,
            alpha=0.45 + 0.55 * share,
            zorder=2,
        )
    )
    for cx, cy in circles:
        ax.plot(
            cx,
            cy,
            marker="o",
            markersize=9,
            markerfacecolor="white",
            markeredgecolor=colour,
            markeredgewidth=1.8,
            zorder=3,
        )
    if edge.stability is not None:
        mid = points[_trim(points, _length(points) / 2)]
        ax.text(
            *mid,
            f"{edge.stability:.2f}",
            fontsize=8.5,
            ha="center",
            va="center",
            color=colour,
            zorder=3,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"},
        )


def render_png(doc: CausalGraphDoc, dpi: int = 130) -> bytes:
    """Draw the PAG as a PNG.

    With tiers the nodes stand in columns, earliest tier on the left; without,
    on an ellipse with the target on the right. Nodes without an edge and
    dropped columns are listed below. The target is orange, its neighbourhood
    blue; selected features have a bold frame. Edge width and number give the
    bootstrap stability.

    Parameters
    ----------
    doc
        The graph document.
    dpi
        Resolution.

    Returns
    -------
    bytes
        The PNG.
    """
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    linked = {e.a for e in doc.edges} | {e.b for e in doc.edges} | {doc.target}
    nodes = [n for n in doc.nodes if n in linked]
    loose = [n for n in doc.nodes if n not in linked]
    layered = bool(doc.tiers)
    pos = _layered_layout(doc, nodes) if layered else _circle_layout(doc, nodes)

    with mpl.rc_context({"font.family": "DejaVu Sans"}):
        fig = Figure(figsize=(12, 9.5), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.02, 0.17, 0.96, 0.76))
        ax.set_xlim(-1.65, 1.65)
        ax.set_ylim(-1.2, 1.2)
        ax.set_aspect("equal")
        ax.axis("off")
        fig.suptitle(_title(doc), fontsize=13, y=0.975)
        if layered:
            for names, label in zip(doc.tiers, _tier_labels(doc), strict=True):
                xs = {pos[n][0] for n in names if n in pos}
                if xs:
                    ax.text(
                        xs.pop(), 1.16, label, ha="center", fontsize=11, color="0.4"
                    )
        texts = _draw_nodes(ax, doc, pos)
        fig.canvas.draw()
        boxes = {name: _box(ax, text) for name, text in texts.items()}
        (ox, _), (px, _) = ax.transData.transform([[0, 0], [1, 0]])
        point = 1 / ((px - ox) * 72 / dpi)  # one typographic point in data units
        for edge in doc.edges:
            on_target = doc.target in (edge.a, edge.b)
            colour = _TARGET_EDGE_COLOUR if on_target else _EDGE_COLOUR
            _draw_edge(ax, edge, colour, pos, boxes, 4.5 * point)
        fig.text(0.03, 0.135, "\n".join(_footer(doc, loose)), fontsize=9.5, va="top")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def _length(points: list[tuple[float, float]]) -> float:
    return sum(math.dist(p, q) for p, q in itertools.pairwise(points))


def _tier_labels(doc: CausalGraphDoc) -> list[str]:
    """Name each tier after the hydride tier holding all its columns."""
    feature = {c.name: c.feature for c in doc.columns}
    labels = []
    for i, names in enumerate(doc.tiers):
        columns = {feature.get(n, n) for n in names}
        label = f"tier {i + 1}"
        for known, members in zip(TIER_NAMES, DEFAULT_TIERS, strict=True):
            if columns <= set(members):
                label = known
                break
        labels.append(label)
    return labels


def _footer(doc: CausalGraphDoc, loose: list[str]) -> list[str]:
    lines = [
        (
            "Marks: arrow head = not an ancestor of that end; open circle = "
            "undetermined; plain end (tail) = an ancestor of the other end."
        ),
    ]
    if doc.bootstrap is not None:
        lines.append(
            f"Edge width and number: share of {doc.bootstrap.succeeded} bootstrap "
            f"resamples (seed {doc.bootstrap.seed}) in which the two nodes are "
            "adjacent."
        )
    lines.append(
        f"Orange: target; blue: its neighbourhood; bold frame: selected features "
        f"(stability >= {doc.stability_threshold:g}): "
        f"{', '.join(doc.selected_features) or 'none'}."
    )
    if doc.data.n_rows_used < doc.data.n_rows_read:
        why = "; ".join(f"{d.name}: {d.reason}" for d in doc.data.dropped_rows)
        lines.append(
            _clip(
                f"Rows: {doc.data.n_rows_used} of {doc.data.n_rows_read} used "
                f"(dropped {why})."
            )
        )
    if loose:
        lines.append(_clip(f"No edge: {', '.join(loose)}."))
    if doc.dropped_columns:
        dropped = "; ".join(f"{d.name} ({d.reason})" for d in doc.dropped_columns)
        lines.append(_clip(f"Left out: {dropped}."))
    return lines


def _clip(text: str, width: int = 170) -> str:
    return "\n".join(textwrap.wrap(text, width, subsequent_indent="    "))
