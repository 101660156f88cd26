"""A picture of a crystal: its cell and atoms in an oblique projection, as SVG.

Drawn with matplotlib's object API (no pyplot state, safe in server threads):
the cell's twelve edges and one disc per atom, sized by the atomic radius and
coloured with Jmol's element colours (pymatgen ships the table), farther atoms
first and paler, so that depth reads. Atoms on a face, an edge or a corner of
the cell are drawn on the opposite ones too, as crystallographers draw a cell.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np

_GREY = (0.6, 0.6, 0.6)
_EDGE_TOLERANCE = 1e-3  # fractional distance to a face that counts as on it


@cache
def _jmol_colours() -> dict[str, tuple[float, float, float]]:
    import yaml

    text = (
        resources.files("pymatgen.core")
        .joinpath("ElementColorSchemes.yaml")
        .read_text(encoding="utf-8")
    )
    table = yaml.safe_load(text)["Jmol"]
    return {el: tuple(c / 255 for c in rgb) for el, rgb in table.items()}


def _radius(symbol: str) -> float:
    from pymatgen.core import Element

    try:
        element = Element(symbol)
    except ValueError:
        return 1.0
    radius = element.atomic_radius or element.atomic_radius_calculated
    # hydrogen (0.25 A) would be a dot beside a metal: a floor keeps it visible
    return max(float(radius), 0.6) if radius else 1.0


def _view_rotation() -> np.ndarray:
    """Return the rotation of the view: 30 degrees about z, then 20 about x."""
    a, b = np.radians(30.0), np.radians(20.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return rx @ rz


def _with_boundary_images(
    frac: np.ndarray, symbols: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Return the sites wrapped into the cell, and their copies on opposite faces."""
    frac = np.mod(frac, 1.0)
    frac[np.isclose(frac, 1.0, atol=_EDGE_TOLERANCE)] = 0.0
    points, names = [], []
    for site, symbol in zip(frac, symbols, strict=True):
        on_face = np.abs(site) < _EDGE_TOLERANCE
        shifts = [(0.0, 1.0) if on_face[axis] else (0.0,) for axis in range(3)]
        for shift in itertools.product(*shifts):
            points.append(site + np.asarray(shift))
            names.append(symbol)
    return np.asarray(points), names


def structure_svg(
    lattice_vectors: Sequence[Sequence[float]],
    cartesian_positions: Sequence[Sequence[float]],
    species_at_sites: Sequence[str],
    title: str | None = None,
    size_inches: float = 4.0,
) -> bytes:
    """Return an SVG picture of a crystal's cell and atoms.

    Parameters
    ----------
    lattice_vectors
        The three lattice vectors (rows), angstrom.
    cartesian_positions
        Cartesian position of each site, angstrom.
    species_at_sites
        The element symbol (or species name) of each site.
    title
        A caption, e.g. the formula.
    size_inches
        Width and height of the picture.

    Returns
    -------
    bytes
        The SVG document.

    Raises
    ------
    ValueError
        If the lattice is singular or the lists disagree in length.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    lattice = np.asarray(lattice_vectors, dtype=float)
    positions = np.asarray(cartesian_positions, dtype=float).reshape(-1, 3)
    if lattice.shape != (3, 3) or abs(np.linalg.det(lattice)) < 1e-8:
        raise ValueError("the lattice vectors do not span a cell")
    if len(positions) != len(species_at_sites):
        raise ValueError(
            f"{len(positions)} positions but {len(species_at_sites)} species"
        )
    frac = np.linalg.solve(lattice.T, positions.T).T
    frac, names = _with_boundary_images(frac, species_at_sites)
    rotation = _view_rotation()
    view = (frac @ lattice) @ rotation.T
    corners = np.array(list(itertools.product((0, 1), repeat=3)), dtype=float)
    corner_view = (corners @ lattice) @ rotation.T

    fig = Figure(figsize=(size_inches, size_inches))
    ax = fig.add_axes((0.02, 0.08, 0.96, 0.84))
    ax.set_aspect("equal")
    ax.axis("off")
    for i, j in itertools.combinations(range(8), 2):
        if np.abs(corners[i] - corners[j]).sum() == 1:  # an edge of the cell
            ax.plot(
                corner_view[[i, j], 0],
                corner_view[[i, j], 1],
                color="0.35",
                lw=0.8,
                zorder=1,
            )
    colours = _jmol_colours()
    depth = view[:, 2]
    span = float(np.ptp(depth)) or 1.0
    scale = 0.4  # disc radius per angstrom of atomic radius
    # z points at the viewer: the farthest atoms (smallest z) first, paler
    for rank, k in enumerate(np.argsort(depth, kind="stable")):
        symbol = "".join(c for c in names[k] if c.isalpha())
        base = np.asarray(colours.get(symbol, _GREY))
        fade = 0.35 * (depth.max() - depth[k]) / span
        colour = base + (1.0 - base) * fade
        ax.add_patch(
            _disc(view[k, :2], _radius(symbol) * scale, colour, zorder=2 + rank)
        )
    every = np.vstack([corner_view[:, :2], view[:, :2]])
    low, high = every.min(axis=0) - 1.0, every.max(axis=0) + 1.0
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    elements = sorted({"".join(c for c in n if c.isalpha()) for n in names})
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            ls="",
            markersize=8,
            markerfacecolor=colours.get(el, _GREY),
            markeredgecolor="0.2",
            label=el,
        )
        for el in elements
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=min(len(handles), 6),
        frameon=False,
        fontsize=9,
    )
    if title:
        fig.suptitle(title, fontsize=11)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _disc(
    centre: np.ndarray,
    radius: float,
    colour: np.ndarray,
    zorder: int,
) -> object:
    from matplotlib.patches import Circle

    return Circle(
        (float(centre[0]), float(centre[1])),
        radius,
        facecolor=tuple(np.clip(colour, 0, 1)),
        edgecolor="0.2",
        lw=0.6,
        zorder=zorder,
    )
