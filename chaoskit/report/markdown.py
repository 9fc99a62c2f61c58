"""A short Markdown summary of a run, for a pull-request comment or a chat message."""

import html
import re
from collections.abc import Sequence

from chaoskit.report.html import totals
from chaoskit.report.model import ExperimentView

__all__ = ["escape_markdown", "render_markdown"]

_ICONS = {"passed": "✅", "inconclusive": "❔", "deviated": "❌", "failed": "❌",
          "interrupted": "⚠️"}  # fmt: skip


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~<>])")


def escape_markdown(text: object) -> str:
    """Return ``text`` as literal Markdown on one line: HTML and Markdown syntax escaped.

    Titles and names are the user's text: ``<script>`` or ``[x](javascript:...)``
    in a title must show as written, not become markup in a pull-request comment.
    """
    escaped = html.escape(" ".join(str(text).split()), quote=False)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)


_cell = escape_markdown


def _code(text: object) -> str:
    # A code span shows its content literally; only a backtick could end it early.
    return "`" + " ".join(str(text).split()).replace("`", "'") + "`"


def render_markdown(views: Sequence[ExperimentView], title: str = "chaoskit report") -> str:
    """Return a Markdown summary: a verdict line, totals, and one table row per experiment."""
    held = sum(1 for v in views if v.ok)
    lines = [f"### {_cell(title)}", ""]
    verdict = "✅" if held == len(views) else "❌"
    lines.append(f"{verdict} **{held} of {len(views)}** experiments held their hypothesis.")
    total = totals(views)
    if total is not None:
        lines.append(
            f"Events: {total.sent} sent, {total.processed} processed, "
            f"{total.dead_lettered} dead-lettered, **{total.lost} lost**."
        )
    changes = sum(len(v.applied_changes) for v in views)
    unrestored = sum(len(v.unrestored) for v in views)
    lines.append(f"Resources restored: {changes - unrestored}/{changes}.")
    lines += [
        "",
        "| | experiment | sent | processed | dead-lettered | lost | restored |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for v in views:
        c = v.counts
        nums = (
            [str(c.sent), str(c.processed), str(c.dead_lettered), str(c.lost)] if c else ["-"] * 4
        )
        restored = f"{len(v.applied_changes) - len(v.unrestored)}/{len(v.applied_changes)}"
        lines.append(
            f"| {_ICONS.get(v.outcome, '')} | {_cell(v.title)} ({v.outcome}) | "
            + " | ".join(nums)
            + f" | {restored} |"
        )
    lost_lines = [
        f"- {_cell(v.title)}: lost {', '.join(_code(i) for i in v.counts.lost_ids[:10])}"
        for v in views
        if v.counts and v.counts.lost_ids
    ]
    if lost_lines:
        lines += ["", "Lost event ids:", *lost_lines]
    unproven = [
        f"- {_cell(v.title)}: {_cell(reason)}"
        for v in views
        if v.outcome == "inconclusive"
        for reason in v.inconclusive
    ]
    if unproven:
        lines += ["", "Why inconclusive:", *unproven]
    return "\n".join(lines) + "\n"
