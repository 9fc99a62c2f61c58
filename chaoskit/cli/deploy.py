"""``chaoskit deploy``: deploy the reference app (experiments/app) to a target.

Prints what was deployed as JSON on stdout (names, ARNs, API URLs), so a
script can read the URLs. Idempotent: run it again after changing the app.
"""

import json

import click

from chaoskit.aws import TARGETS
from chaoskit.runner import parse_vars

__all__ = ["command"]


@click.command("deploy")
@click.option("--target", type=click.Choice(TARGETS), help="Where to deploy (default sandbox).")
@click.option("--endpoint-url", help="Explicit endpoint for every AWS service.")
@click.option(
    "--variant",
    type=click.Choice(["good", "broken"]),
    default="good",
    show_default=True,
    help="'broken' swallows errors: the experiments must catch it.",
)
@click.option(
    "--var", "variables", multiple=True, metavar="KEY=VALUE", help="Configuration, e.g. aws_region."
)
def command(
    target: str | None, endpoint_url: str | None, variant: str, variables: tuple[str, ...]
) -> None:
    """Deploy the reference orders app, or bring it up to date."""
    from chaoskit.deploy import deploy, experiment_vars

    configuration = parse_vars(variables)
    if target:
        configuration["chaoskit_target"] = target
    if endpoint_url:
        configuration["chaoskit_endpoint_url"] = endpoint_url
    click.echo(f"deploying the reference app ({variant})...", err=True)
    result = deploy(configuration, variant=variant)
    click.echo(json.dumps(result, indent=2, sort_keys=True))
    pairs = " ".join(f"--var {k}={v}" for k, v in experiment_vars(result).items())
    click.echo(f"experiments that need them take: {pairs}", err=True)
