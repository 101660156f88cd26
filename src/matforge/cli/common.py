"""What every command shares: settings, the store factory, progress, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from matforge.errors import MatforgeError


class MatforgeGroup(click.Group):
    """A group that turns matforge's errors into one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a matforge error becomes one line and exit code 1."""
        try:
            return super().invoke(ctx)
        except MatforgeError as exc:
            raise click.ClickException(str(exc)) from None


def settings_of(ctx: click.Context) -> Any:
    """Return the settings of this invocation (loaded once, with ``--config``)."""
    from matforge.settings import load_settings

    root = ctx.find_root()
    if "settings" not in root.meta:
        root.meta["settings"] = load_settings(root.params.get("config"))
    return root.meta["settings"]


@contextmanager
def open_factory(ctx: click.Context) -> Iterator[Any]:
    """Yield the store factory of the settings, closed afterwards."""
    from matforge.stores import StoreFactory

    factory = StoreFactory(settings_of(ctx))
    try:
        yield factory
    finally:
        factory.close()


@contextmanager
def progress_bar(total: int | None, desc: str) -> Iterator[Callable[[int], None]]:
    """Yield an update function of a progress bar on stderr (hidden off a TTY)."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="rec", file=sys.stderr, disable=None) as bar:
        yield bar.update


def echo_json(payload: Any) -> None:
    """Print a payload as indented JSON."""
    click.echo(json.dumps(payload, indent=2, default=str))


def text_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Return rows as an aligned text table (floats with 4 decimals)."""

    def fmt(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value)

    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells
    ]
    return "\n".join(lines)


def candidates_text(rows: list[dict[str, Any]]) -> str:
    """Return ranked candidates as the paper's table, for the screen."""
    from matforge.report.table import table_rows

    heads, cells = table_rows(rows)
    return text_table(cells, heads)


def split_option(values: tuple[str, ...]) -> list[str]:
    """Return the items of a repeatable, comma-separated option."""
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


MP_OPTION = click.option(
    "--mp",
    "from_mp",
    is_flag=True,
    help="Also add the Materials Project materials of these chemical systems to "
    "the references (online; needs MP_API_KEY).",
)

MODEL_PATH_OPTION = click.option(
    "--model-path",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of a saved matgl model [potential.model_path].",
)


def potential_option(setting: str = "potential.name") -> Callable[[Any], Any]:
    """Return the ``--potential`` option, naming the setting it overrides."""
    return click.option(
        "--potential", default=None, help=f"Potential name [{setting}]."
    )
