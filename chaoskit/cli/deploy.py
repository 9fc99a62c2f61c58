"""``chaoskit deploy``: package and deploy a CloudFormation/SAM template onto a target.

Prints JSON on stdout: the stack's outputs, a logical-ID -> physical-ID map
(``resources``) and whether anything changed; progress (packaging, the change
set, stack events) goes to stderr. Exit 0 deployed or nothing to change, 1 the
stack failed (the failing resource and reason are printed), 2 bad input.
"""

import json

import click

from chaoskit.aws import TARGETS, target_settings
from chaoskit.runner import parse_vars

__all__ = ["command"]


def _say(line: str) -> None:
    click.echo(f"  {line}", err=True)


@click.command("deploy")
@click.option(
    "--template",
    "template_path",
    default="template.yaml",
    show_default=True,
    help="CloudFormation or SAM template (YAML or JSON) to deploy, or a CDK stack's "
    "template in its cdk.out (its assets are published first).",
)
@click.option(
    "--stack-name", help="Stack name (default: a CDK stack's own name, else the template folder's)."
)
@click.option(
    "--parameter",
    "parameters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Template parameter value (repeatable).",
)
@click.option("--s3-bucket", help="Bucket for packaged code (default: one chaoskit creates).")
@click.option("--target", type=click.Choice(TARGETS), help="Where to deploy (default sandbox).")
@click.option("--endpoint-url", help="Explicit endpoint for every AWS service.")
@click.option(
    "--var", "variables", multiple=True, metavar="KEY=VALUE", help="Configuration, e.g. aws_region."
)
def command(
    template_path: str,
    stack_name: str | None,
    parameters: tuple[str, ...],
    s3_bucket: str | None,
    target: str | None,
    endpoint_url: str | None,
    variables: tuple[str, ...],
) -> None:
    """Deploy a template (packaging its local code), or bring its stack up to date."""
    configuration = {**parse_vars(variables), **target_settings(target, endpoint_url)}
    from chaoskit.deploy import deploy_template
    from chaoskit.deploy.template import parse_parameters

    result = deploy_template(
        template_path,
        stack_name=stack_name,
        parameters=parse_parameters(parameters),
        configuration=configuration,
        bucket=s3_bucket,
        progress=_say,
    )
    click.echo(json.dumps(result, indent=2, sort_keys=True))
