"""HTML, Markdown and JUnit renderings of journals."""

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

from chaoskit.report import render_html, render_junit, render_markdown, view_journal
from chaoskit.report.charts import timeline_svg
from chaoskit.report.model import FaultWindow


class _Collector(HTMLParser):
    """Collects tags and attributes, and fails on unbalanced sections."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Collector:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    return parser


def test_html_is_self_contained(
    chaoskit_journal: dict[str, Any], plain_journal: dict[str, Any]
) -> None:
    html = render_html([chaoskit_journal, plain_journal], "Game day")
    parsed = _parse(html)
    names = [t for t, _ in parsed.tags]
    assert "script" not in names and "link" not in names and "img" not in names
    for _tag, attrs in parsed.tags:
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not value or value.startswith("#"), f"external reference {key}={value}"
    assert "url(" not in html and "@import" not in html


def test_html_has_summary_then_one_chart_per_experiment_with_a_ledger(
    chaoskit_journal: dict[str, Any], plain_journal: dict[str, Any]
) -> None:
    html = render_html([chaoskit_journal, chaoskit_journal, plain_journal], "Game day")
    assert html.index('id="summary"') < html.index('id="exp-1"')
    assert html.count('<svg class="chart"') == 2  # the plain journal has no timeline
    assert html.count('class="card experiment"') == 3
    text = " ".join(_parse(html).text)
    assert "1 of 3 experiments held their hypothesis" in text
    assert "No ledger timeline for this run" in text
    assert "kill switch <worker>" in text  # escaped in the HTML, intact as text
    assert "kill switch <worker>" not in html
    assert "lost event ids" in text and "e1, e2, e3" in text
    for needed in (
        "set_reserved_concurrency",
        "orders-api",
        "not restored",
        "failed",
        "Circuit breaker transitions",
        "Failover",
        "dns answers secondary",
    ):
        assert needed in text or needed in html, needed


def test_chart_shades_fault_windows_and_draws_four_series() -> None:
    points = [
        {"t": float(t), "sent": t, "processed": t // 2, "dead_lettered": 0, "lost": t - t // 2}
        for t in range(10)
    ]
    svg = timeline_svg(points, [FaultWindow(2.0, 5.0, "latency on worker")])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert len(re.findall(r'<rect class="fault"', svg)) == 1
    assert "latency on worker" in svg
    for key in ("sent", "processed", "dead_lettered", "lost"):
        assert f'class="series-{key}"' in svg
    widths = re.search(r'<rect class="fault" x="([\d.]+)" y="\d+" width="([\d.]+)"', svg)
    assert widths is not None
    x, width = float(widths.group(1)), float(widths.group(2))
    assert 52 < x < 52 + 692 / 2 and 0 < width < 692 / 2  # 3s of a 9s span, left half
    assert timeline_svg([]) == ""
    ET.fromstring(svg)  # well-formed XML


def test_chart_draws_in_flight_under_the_others_and_red_only_for_a_loss() -> None:
    # A kill switch: all 20 sent at once, held, then processed. Nothing is lost, so nothing
    # is red, and the in-flight line (equal to "sent" while held) is drawn under "sent".
    held = [
        {"t": float(t), "sent": 20, "processed": 0, "dead_lettered": 0, "lost": 20}
        for t in range(5)
    ]
    done = [{"t": 5.0, "sent": 20, "processed": 20, "dead_lettered": 0, "lost": 0}]
    svg = timeline_svg([*held, *done])
    assert svg.index('class="series-lost"') < svg.index('class="series-sent"')
    assert "#dc2626" not in svg and "lost-at-end" not in svg
    lossy = [*held, {"t": 5.0, "sent": 20, "processed": 17, "dead_lettered": 0, "lost": 3}]
    svg = timeline_svg(lossy)
    assert 'class="lost-at-end"' in svg and ">3 lost</text>" in svg
    ET.fromstring(svg)


def test_markdown_summary(chaoskit_journal: dict[str, Any], plain_journal: dict[str, Any]) -> None:
    views = [view_journal(chaoskit_journal), view_journal(plain_journal)]
    md = render_markdown(views, "Game day")
    assert md.startswith("### Game day\n")
    assert "**1 of 2** experiments" in md
    assert "50 sent, 45 processed, 2 dead-lettered, **3 lost**" in md
    assert "Resources restored: 1/2." in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(rows) == 3  # header + two experiments
    assert "`e1`, `e2`, `e3`" in md


def test_junit_one_case_per_experiment(
    chaoskit_journal: dict[str, Any], plain_journal: dict[str, Any]
) -> None:
    deviated_only = dict(chaoskit_journal)
    deviated_only["chaoskit"] = {**chaoskit_journal["chaoskit"], "changes": []}
    views = [view_journal(j) for j in (chaoskit_journal, deviated_only, plain_journal)]
    root = ET.fromstring(render_junit(views, suite="day", skipped=["later"]))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "kill switch <worker>",
        "kill switch <worker>",
        "plain chaostoolkit experiment",
        "later",
    ]
    assert (
        suite.get("tests"),
        suite.get("failures"),
        suite.get("errors"),
        suite.get("skipped"),
    ) == (
        "4",
        "1",
        "1",
        "1",
    )
    error = cases[0].find("error")
    assert error is not None and error.get("message") == "changes not restored"
    assert "not restored: inject_latency on orders-api" in (error.text or "")
    failure = cases[1].find("failure")
    assert failure is not None and "lost event ids: e1, e2, e3" in (failure.text or "")
    assert cases[2].find("failure") is None and cases[2].find("error") is None
    assert cases[3].find("skipped") is not None


def test_labels_of_windows_that_start_together_do_not_overlap() -> None:
    points = [
        {"t": float(t), "sent": t, "processed": t, "dead_lettered": 0, "lost": 0} for t in range(5)
    ]
    windows = [FaultWindow(1.0, 4.0, "enable layer"), FaultWindow(1.0, 3.0, "inject latency")]
    svg = timeline_svg(points, windows)
    label_y = re.findall(r'<text x="[\d.]+" y="([\d.]+)" font-size="11" fill="#991b1b"', svg)
    assert len(label_y) == 2 and len(set(label_y)) == 2
    # drawn after the series, so no line crosses them, and a long label is cut with an ellipsis
    assert svg.index('fill="#991b1b"') > svg.index("<polyline")
    long = timeline_svg(points, [FaultWindow(1.0, 4.0, "inject_latency " + "x" * 80)])
    assert ">inject_latency " + "x" * 44 + "…</text>" in long
