"""``chaoskit report JOURNAL...``: render Chaos Toolkit journals to one HTML page."""

from pathlib import Path

import click

from chaoskit.report import load_journals, render_html

__all__ = ["command"]


@click.command("report")
@click.argument("journals", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default="report.html",
    show_default=True,
    help="Where to write the HTML report.",
)
@click.option("--title", default="chaoskit report", show_default=True, help="Page title.")
def command(journals: tuple[str, ...], output: str, title: str) -> None:
    """Render JOURNALS (ours or any Chaos Toolkit journal) to a self-contained HTML page."""
    html = render_html(load_journals(journals), title)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    click.echo(str(out))
