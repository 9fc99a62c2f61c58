"""``chaoskit init``: write an experiment suite for an app, from its template or stack.

Exit codes: 0 written, 2 bad input (no template or stack, a file would be
overwritten, the template or stack cannot be read).
"""

import time

import click

from chaoskit.aws import TARGETS, target_settings

__all__ = ["command"]


@click.command("init")
@click.option(
    "--template",
    type=click.Path(),
    help="SAM/CloudFormation template, a CDK stack's template, or a cdk.out with one stack.",
)
@click.option("--stack", help="A deployed stack to read the topology from.")
@click.option(
    "--stack-name",
    help="The stack the experiments aim at (default: --stack, else the name chaoskit deploy "
    "gives the template: a CDK stack's own, else the template folder's).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False),
    required=True,
    help="Folder to write the experiments, gameday.yaml and README.md into.",
)
@click.option("--force", is_flag=True, help="Overwrite files already in the folder.")
@click.option(
    "--target", type=click.Choice(TARGETS), help="Where --stack is read (default sandbox)."
)
@click.option("--endpoint-url", help="Explicit endpoint for every AWS service.")
def command(
    template: str | None,
    stack: str | None,
    stack_name: str | None,
    output: str,
    force: bool,
    target: str | None,
    endpoint_url: str | None,
) -> None:
    """Read an app's topology and write one experiment per meaningful failure, and a game day."""
    from chaoskit.suite import generate_suite, write_suite

    started = time.monotonic()
    configuration = target_settings(target, endpoint_url)
    suite = generate_suite(template, stack, stack_name, configuration)
    written = write_suite(suite, output, force=force)
    click.echo(f"read {suite.source}; experiments aim at stack '{suite.stack}'")
    click.echo("found:")
    for line in suite.found:
        click.echo(f"  {line}")
    click.echo(
        f"wrote {len(suite.experiments)} experiment(s), gameday.yaml and README.md to {output}:"
    )
    for planned in suite.experiments:
        click.echo(f"  {planned.slug}.yaml ({planned.kind}): {planned.proves}")
    if suite.uncovered:
        click.echo("not covered:")
        for note in suite.uncovered:
            click.echo(f"  {note}")
    click.echo(f"({len(written)} files in {time.monotonic() - started:.1f} s)")
