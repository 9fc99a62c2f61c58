"""JUnit XML for CI: one test suite per game day, one test case per experiment.

A deviated hypothesis is a ``<failure>``; a run that failed, was interrupted
or left a change unrestored is an ``<error>``.
"""

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from chaoskit.report.model import ExperimentView

__all__ = ["render_junit"]


def _failure_text(v: ExperimentView) -> str:
    lines = [f"{p.name}: expected {p.tolerance}, got {p.output}" for p in v.after if p.met is False]
    lines += [
        f"{p.name} (before): expected {p.tolerance}, got {p.output}"
        for p in v.before
        if p.met is False
    ]
    if v.counts is not None:
        c = v.counts
        lines.append(f"events: {c.line()}")
        if c.lost_ids:
            lines.append("lost event ids: " + ", ".join(c.lost_ids[:50]))
    lines += [f"not restored: {c.action} on {c.resource}" for c in v.unrestored]
    lines += [f"{a.name}: {a.error}" for a in v.method if a.error]
    return "\n".join(lines)


def render_junit(
    views: Sequence[ExperimentView],
    suite: str = "chaoskit",
    skipped: Sequence[str] = (),
    stopped: str = "the game day stopped on a deviation",
) -> str:
    """Return a JUnit XML document with one ``<testcase>`` per experiment.

    Args:
        views: the experiments that ran.
        suite: the suite name (the game day's name).
        skipped: names of experiments that did not run (a game day stopped early).
        stopped: why they did not run.
    """
    failures = sum(1 for v in views if v.outcome == "deviated" and not v.unrestored)
    errors = sum(1 for v in views if v.outcome in ("failed", "interrupted") or v.unrestored)
    total_time = sum(v.duration or 0.0 for v in views)
    tests = str(len(views) + len(skipped))
    root = ET.Element(
        "testsuites",
        name=suite,
        tests=tests,
        failures=str(failures),
        errors=str(errors),
        time=f"{total_time:.3f}",
    )
    node = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=tests,
        failures=str(failures),
        errors=str(errors),
        skipped=str(len(skipped) + sum(1 for v in views if v.outcome == "inconclusive")),
        time=f"{total_time:.3f}",
    )
    for v in views:
        case = ET.SubElement(
            node, "testcase", classname=suite, name=v.title, time=f"{v.duration or 0.0:.3f}"
        )
        text = _failure_text(v)
        if v.unrestored or v.outcome in ("failed", "interrupted"):
            if v.unrestored:
                reason = "changes not restored"
            elif v.before_met is False:
                reason = "steady state not met before the method"
            else:
                reason = f"run {v.status}"
            err = ET.SubElement(case, "error", message=reason, type=v.outcome)
            err.text = text
        elif v.outcome == "inconclusive":
            ET.SubElement(case, "skipped", message="inconclusive: " + "; ".join(v.inconclusive))
        elif v.outcome == "deviated":
            fail = ET.SubElement(
                case, "failure", message="steady-state hypothesis deviated", type="deviated"
            )
            fail.text = text
        if v.run_id:
            out = ET.SubElement(case, "system-out")
            out.text = f"run id: {v.run_id}\n" + text
    for name in skipped:
        case = ET.SubElement(node, "testcase", classname=suite, name=name, time="0.000")
        ET.SubElement(case, "skipped", message=f"not run: {stopped}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
