"""``chaoskit layer build``: write the Lambda layer zip, or vendor it into a function."""

from pathlib import Path

import click

__all__ = ["command"]


@click.group("layer")
def command() -> None:
    """Build the chaoskit Lambda layer or vendor it into a function's code."""


@command.command("build")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=True),
    default="dist/chaoskit-layer.zip",
    show_default=True,
    help="Where to write the layer zip (a file, or an existing directory).",
)
@click.option(
    "--vendor",
    "vendor",
    type=click.Path(file_okay=False),
    default=None,
    help="Copy the layer's package into this function code directory instead of zipping.",
)
@click.option(
    "--runtime",
    default="python",
    show_default=True,
    help="With --vendor: the function's runtime (a nodejs* runtime vendors the Node.js layer).",
)
@click.option(
    "--precompile",
    is_flag=True,
    help="Also ship bytecode for this Python version (faster cold starts on that runtime).",
)
def build(output: str, vendor: str | None, runtime: str, precompile: bool) -> None:
    """Write the layer zip, or vendor the layer into a function's code.

    The zip holds the Python package under python/, the Node.js package under
    nodejs/node_modules/chaoskit-layer/ and the exec wrapper at its root, for
    AWS_LAMBDA_EXEC_WRAPPER=/opt/chaoskit-wrapper; its path and size are printed.
    """
    from chaoskit.layer.build import build_layer_zip, vendor_into

    if vendor is not None:
        directory = Path(vendor)
        if not directory.is_dir():
            raise click.BadParameter(
                f"'{vendor}' is not a directory: expected the function's code directory",
                param_hint="--vendor",
            )
        target = vendor_into(directory, runtime)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        click.echo(f"{target} {size} bytes")
        entry = (
            "node_modules/chaoskit-layer/handler.handler"
            if runtime.startswith("nodejs")
            else "chaoskit.layer.handler.handler"
        )
        click.echo(
            f"set the function's handler to {entry} and "
            "CHAOSKIT_ORIGINAL_HANDLER to its own handler"
        )
        return
    path = build_layer_zip(Path(output), precompile=precompile)
    click.echo(f"{path} {path.stat().st_size} bytes")
