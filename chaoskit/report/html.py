"""Render journals to one self-contained HTML page.

The page carries its own CSS and inline SVG charts: no script, no font, no
image, no link to anything outside the file, so it can be attached to a
ticket or opened from a CI artifact as is.
"""

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2

from chaoskit import __version__
from chaoskit.report.charts import timeline_svg
from chaoskit.report.model import Counts, ExperimentView, view_journal

__all__ = ["render_html", "render_views", "totals"]

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("chaoskit.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _fmt_time(value: float | None) -> str:
    if value is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value)) + f".{int(value % 1 * 10)}Z"


def _fmt_duration(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 200 else text[:199] + "…"


def totals(views: Sequence[ExperimentView]) -> Counts | None:
    """Return the events of every view added up, or ``None`` if none has a ledger."""
    counted = [v.counts for v in views if v.counts is not None]
    if not counted:
        return None
    return Counts(
        sent=sum(c.sent for c in counted),
        processed=sum(c.processed for c in counted),
        dead_lettered=sum(c.dead_lettered for c in counted),
        lost=sum(c.lost for c in counted),
    )


def render_views(views: Sequence[ExperimentView], title: str = "chaoskit report") -> str:
    """Return the HTML page for already-built experiment views."""
    outcomes = {v.outcome for v in views}
    overall = "passed"
    for worst in ("inconclusive", "interrupted", "failed", "deviated"):
        if worst in outcomes:
            overall = worst
    targets = sorted({v.target for v in views if v.target})
    starts = [v.start for v in views if v.start is not None]
    subtitle = " · ".join(
        part
        for part in (
            f"{len(views)} experiment{'' if len(views) == 1 else 's'}",
            f"target {', '.join(targets)}" if targets else "",
            f"started {_fmt_time(min(starts))}" if starts else "",
        )
        if part
    )
    changes = sum(len(v.applied_changes) for v in views)
    unrestored = sum(len(v.unrestored) for v in views)
    return _env.get_template("report.html.j2").render(
        title=title,
        subtitle=subtitle,
        views=views,
        charts=[
            timeline_svg(v.timeline, v.fault_windows, f"{v.title}: events over time") for v in views
        ],
        overall=overall,
        passed=sum(1 for v in views if v.ok),
        totals=totals(views),
        changes=changes,
        restored=changes - unrestored,
        unrestored=unrestored,
        version=__version__,
        generated=_fmt_time(time.time()),
        fmt_time=_fmt_time,
        fmt_duration=_fmt_duration,
        short=_short,
    )


def render_html(journals: Sequence[Mapping[str, Any]], title: str = "chaoskit report") -> str:
    """Return one self-contained HTML page for any Chaos Toolkit journals."""
    return render_views([view_journal(j) for j in journals], title)
