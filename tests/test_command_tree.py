"""The command line's commands, options and arguments stay as users know them.

``tests/command_tree.json`` is the tree of every command with its parameters;
a change to it (a new command or option) is deliberate and shows in the diff.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

from matforge.cli import cli

TREE = Path(__file__).with_name("command_tree.json")


def tree(command: click.Command) -> dict[str, Any]:
    """Return a command's help line, parameters and sub-commands."""
    out: dict[str, Any] = {
        "help": (command.help or "").strip().splitlines()[0] if command.help else "",
        "params": [
            {
                "name": p.name,
                "opts": sorted(p.opts + p.secondary_opts),
                "kind": type(p).__name__,
                "required": p.required,
                "multiple": getattr(p, "multiple", False),
                "is_flag": getattr(p, "is_flag", False),
                "default": p.default
                if isinstance(p.default, int | float | str | bool | type(None))
                else repr(p.default),
                "type": p.type.to_info_dict(),
            }
            for p in command.params
        ],
    }
    if isinstance(command, click.Group):
        out["commands"] = {n: tree(c) for n, c in sorted(command.commands.items())}
    return out


def test_the_command_tree_is_unchanged():
    expected = json.loads(TREE.read_text())
    assert json.loads(json.dumps(tree(cli))) == expected


def test_every_command_answers_help():
    runner = CliRunner()

    def walk(command: click.Command, path: list[str]) -> None:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(cli, [])
