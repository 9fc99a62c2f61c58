"""Reports of experiment runs: a self-contained HTML page, a Markdown summary, JUnit XML.

Every renderer reads journals through :func:`view_journal`, so it handles any
Chaos Toolkit journal; chaoskit's ``journal["chaoskit"]`` member adds the
ledger counts, the timeline, the fault windows and the recorded changes.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chaoskit.errors import BadInput
from chaoskit.inputs import load_document, one_line
from chaoskit.report.html import render_html, render_views
from chaoskit.report.junit import render_junit
from chaoskit.report.markdown import render_markdown
from chaoskit.report.model import ExperimentView, view_journal

__all__ = [
    "ExperimentView",
    "load_journals",
    "render_html",
    "render_junit",
    "render_markdown",
    "render_views",
    "view_journal",
]


def load_journals(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Read Chaos Toolkit journal files.

    Raises:
        BadInput: a file cannot be read, is not JSON, or is not a journal.
    """
    journals = []
    for path in paths:
        data = load_document(path, "journal", json_only=True)
        if not isinstance(data, dict) or "status" not in data or "experiment" not in data:
            raise BadInput(
                f"'{path}' is not a Chaos Toolkit journal: expected an object with "
                "'experiment' and 'status'"
            )
        _check_journal(data, path)
        journals.append(data)
    return journals


#: Members of a journal and the JSON types they must have when present.
_JOURNAL_TYPES: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "experiment": (dict,),
    "run": (list,),
    "rollbacks": (list,),
    "steady_states": (dict, type(None)),
    "chaoskit": (dict,),
    "deviated": (bool,),
}


def _check_journal(data: dict[str, Any], path: str | Path) -> None:
    """Refuse a journal whose members have the wrong types, before any renderer reads it."""
    for key, kinds in _JOURNAL_TYPES.items():
        if key in data and not isinstance(data[key], kinds):
            expected = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
            raise BadInput(
                f"journal '{path}': field '{key}': got {type(data[key]).__name__}, "
                f"expected {expected}"
            )
    try:
        # Each renderer reads the view differently: render this journal alone once.
        view = view_journal(data)
        render_views([view], str(path))
        render_markdown([view])
        render_junit([view])
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as err:
        # The renderers read nested members a malformed journal may lack or mistype.
        raise BadInput(
            f"journal '{path}' is malformed: {one_line(err)}: expected a Chaos Toolkit journal"
        ) from err
