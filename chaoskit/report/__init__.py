"""Reports of experiment runs: a self-contained HTML page, a Markdown summary, JUnit XML.

Every renderer reads journals through :func:`view_journal`, so it handles any
Chaos Toolkit journal; chaoskit's ``journal["chaoskit"]`` member adds the
ledger counts, the timeline, the fault windows and the recorded changes.
"""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chaoskit.errors import BadInput
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
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            raise BadInput(f"cannot read journal '{path}': {err.strerror or err}") from err
        except json.JSONDecodeError as err:
            raise BadInput(f"journal '{path}' is not valid JSON: {err}") from err
        if not isinstance(data, dict) or "status" not in data or "experiment" not in data:
            raise BadInput(
                f"'{path}' is not a Chaos Toolkit journal: expected an object with "
                "'experiment' and 'status'"
            )
        journals.append(data)
    return journals
