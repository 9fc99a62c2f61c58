"""``chaoskit iam-policy``: print the least-privilege IAM policy chaoskit needs.

With ``--experiment FILE`` (repeatable), only what those experiments' actions
need; without, everything chaoskit can do. Functions, tables, health checks
and API stages are scoped to the names of the allowlist in force (the
settings file and each experiment's ``chaoskit_allow``); calls IAM cannot
scope (list calls, ``sts:GetCallerIdentity``) get ``*``.
"""

import json

import click

from chaoskit.iam import activities_of, policy
from chaoskit.runner import load_experiment_file
from chaoskit.undo.settings import load_settings

__all__ = ["command"]


def _names(allow: object) -> list[str]:
    if isinstance(allow, dict):
        names = allow.get("names") or []
        return [names] if isinstance(names, str) else [str(n) for n in names]
    return []


@click.command("iam-policy")
@click.option(
    "--experiment",
    "experiments",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Only what this experiment needs (repeatable).",
)
def command(experiments: tuple[str, ...]) -> None:
    """Print the IAM policy (JSON) chaoskit needs, scoped to the allowlist's names."""
    names = _names(load_settings().get("chaoskit_allow"))
    activities: list[str] | None = None
    if experiments:
        activities = []
        for path in experiments:
            experiment = load_experiment_file(path)
            activities.extend(activities_of(experiment))
            # Settings only narrow: an experiment's own allowlist applies only without one.
            if not names:
                names = _names((experiment.get("configuration") or {}).get("chaoskit_allow"))
    role = load_settings().get("chaoskit_scheduled_restore_role")
    document = policy(activities, names or None, str(role) if role else None)
    click.echo(json.dumps(document, indent=2))
