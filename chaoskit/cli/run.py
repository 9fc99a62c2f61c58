"""``chaoskit run EXPERIMENT``: run one experiment with chaoskit's controls and target.

Exit codes: 0 the hypothesis held, 1 it deviated or the run failed, 2 the
experiment or a flag is invalid (nothing ran), 3 the run was interrupted or a
change could not be restored, 4 inconclusive: the hypothesis held but a fault
the method injected fired zero times (``--allow-unfired-faults`` makes that a
pass).
"""

import os

import click

from chaoskit import envvars
from chaoskit.aws import TARGETS
from chaoskit.runner import parse_vars, run_experiment_file

__all__ = ["command"]


@click.command("run")
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option("--target", type=click.Choice(TARGETS), help="Where AWS calls go (default sandbox).")
@click.option("--endpoint-url", help="Explicit endpoint for every AWS service.")
@click.option(
    "--var", "variables", multiple=True, metavar="KEY=VALUE", help="Configuration override."
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False),
    help="Where to write the journal (default .chaoskit/journals/<run id>.json).",
)
@click.option(
    "--allow-unlisted",
    is_flag=True,
    help="On a non-local target with no allowlist, let actions change any resource.",
)
@click.option(
    "--seed", help="The run's seed (default: a fresh one, printed): same seed, same faults."
)
@click.option(
    "--allow-unfired-faults",
    is_flag=True,
    help="Pass a run whose injected fault fired zero times (default: exit 4, inconclusive).",
)
def command(
    experiment: str,
    target: str | None,
    endpoint_url: str | None,
    variables: tuple[str, ...],
    journal: str | None,
    allow_unlisted: bool,
    seed: str | None,
    allow_unfired_faults: bool,
) -> None:
    """Run EXPERIMENT (YAML or JSON) with forced rollbacks and a ledger summary.

    On a target that is not on this machine (real AWS), actions refuse to
    change anything unless an allowlist (chaoskit_allow in .chaoskit/settings.yaml
    or the experiment) admits the resource, or --allow-unlisted is given.
    """
    if allow_unlisted:
        os.environ[envvars.ALLOW_UNLISTED] = "1"
    parsed = parse_vars(variables)
    if allow_unfired_faults:
        parsed["chaoskit_require_faults_fired"] = False
    result = run_experiment_file(
        experiment,
        target=target,
        endpoint_url=endpoint_url,
        variables=parsed,
        journal_path=journal,
        say=lambda line: click.echo(line, err=True),
        seed=seed,
    )
    click.echo(result.summary())
    raise click.exceptions.Exit(result.exit_code)
