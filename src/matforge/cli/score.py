"""``matforge score``: the Hydrogen Storage Score of a formula and an energy."""

from __future__ import annotations

import click

from matforge.cli.common import echo_json, settings_of
from matforge.errors import MatforgeError


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("formula")
@click.argument("e_form", type=float)
@click.option("--json", "as_json", is_flag=True, help="Print the score as JSON.")
@click.pass_context
def score(ctx: click.Context, formula: str, e_form: float, as_json: bool) -> None:
    """Hydrogen Storage Score of FORMULA with formation energy E_FORM (eV/atom)."""
    from matforge.core.score import score_of_formula

    params = settings_of(ctx).score
    try:
        result = score_of_formula(formula, e_form, params.e_threshold, params.sigma)
    except ValueError as exc:
        raise MatforgeError(str(exc)) from None
    if as_json:
        echo_json(
            {
                "formula": formula,
                "h_weight_fraction": result.h_weight_fraction,
                "energy_factor": result.energy_factor,
                "storage_score": result.storage_score,
            }
        )
    else:
        click.echo(
            f"{formula}: w_H = {result.h_weight_fraction:.4f}, "
            f"f(E_form = {e_form:g}) = {result.energy_factor:.4f}, "
            f"storage score = {result.storage_score:.4f}"
        )
