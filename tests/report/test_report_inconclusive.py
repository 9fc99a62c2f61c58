"""No vacuous pass: a run whose injected fault fired zero times is inconclusive (exit 4)."""

from pathlib import Path
from typing import Any

import pytest

from chaoskit.ledger.records import FAULT, FAULT_PREFIX, Record
from chaoskit.report.enrich import enrich_journal
from chaoskit.report.junit import render_junit
from chaoskit.report.model import view_journal
from chaoskit.runner import RunResult


def _journal(rate: float = 0.3) -> dict[str, Any]:
    inject = {
        "activity": {
            "type": "action",
            "name": "errors on the processor",
            "provider": {"type": "python", "module": "chaoskit.faults.inject",
                         "func": "inject_exception",
                         "arguments": {"function_name": "processor", "rate": rate}},
        },
        "status": "succeeded",
        "output": {"function_name": "processor", "faults": [], "dry_run": False},
    }  # fmt: skip
    return {
        "status": "completed",
        "deviated": False,
        "experiment": {"title": "errors"},
        "steady_states": {"before": {"steady_state_met": True, "probes": []},
                          "after": {"steady_state_met": True, "probes": []}},
        "run": [inject],
        "rollbacks": [],
    }  # fmt: skip


def _records(fired: int) -> list[Record]:
    out = [Record("r", f"e{i}", "sent", 1.0) for i in range(4)]
    out += [Record("r", f"e{i}", "processed", 2.0, "direct", {"function": "processor"})
            for i in range(4)]  # fmt: skip
    detail = {"fault": 0, "kind": "exception", "function": "processor", "event_ids": ["e0"]}
    out += [Record("r", f"{FAULT_PREFIX}q{i}#0", FAULT, 2.0, "direct", detail)
            for i in range(fired)]  # fmt: skip
    return out


def _result(journal: dict[str, Any]) -> RunResult:
    return RunResult("x.yaml", "r", journal, Path("j.json"), view_journal(journal), True)


def _enriched(fired: int, config: dict[str, Any] | None = None, rate: float = 0.3) -> RunResult:
    journal = _journal(rate)
    enrich_journal(journal, "r", config or {}, "sandbox",
                   read_records=lambda run, cfg: _records(fired))  # fmt: skip
    return _result(journal)


def test_a_held_run_whose_fault_fired_zero_times_is_inconclusive_with_exit_4() -> None:
    result = _enriched(fired=0)
    assert result.view.outcome == "inconclusive" and result.exit_code == 4
    assert result.view.inconclusive == ["exception fault on 'processor' (rate 0.3) fired 0 times"]
    assert "inconclusive: exception fault on 'processor' (rate 0.3) fired 0 times" in (
        result.summary()
    )
    assert 'skipped message="inconclusive: exception fault' in render_junit([result.view])


def test_a_fault_that_fired_shows_its_count_next_to_the_events_and_passes() -> None:
    result = _enriched(fired=2)
    assert result.view.outcome == "passed" and result.exit_code == 0
    assert result.view.faults_fired == [
        {"kind": "exception", "function": "processor", "rate": 0.3, "fired": 2, "events": 1}
    ]
    assert "fault exception on 'processor' (rate 0.3): fired 2 times on 1 events" in (
        result.summary()
    )


@pytest.mark.parametrize("value", [False, "false"])
def test_the_check_can_be_turned_off(value: Any) -> None:
    result = _enriched(fired=0, config={"chaoskit_require_faults_fired": value})
    assert result.view.outcome == "passed" and result.exit_code == 0
    assert result.journal["chaoskit"]["unfired_faults_allowed"]


def test_a_fault_at_rate_0_is_not_expected_to_fire() -> None:
    assert _enriched(fired=0, rate=0.0).exit_code == 0


def test_a_deviated_run_stays_deviated_whatever_fired() -> None:
    journal = _journal()
    journal["deviated"] = True
    enrich_journal(journal, "r", {}, "sandbox", read_records=lambda run, cfg: _records(0))
    assert _result(journal).exit_code == 1


def _rejected(processed: int) -> list[Record]:
    """Four events: ``processed`` of them processed, the others failed by the function's
    own code (a KeyError on a field chaoskit's events lack), no fault fired on any."""
    out = [Record("r", f"e{i}", "sent", 1.0) for i in range(4)]
    for i in range(4):
        detail = {"function": "writer", "error": "KeyError"}
        kind = "processed" if i < processed else "failed"
        out.append(Record("r", f"e{i}", kind, 2.0, "sqs", detail))
    return out


def test_a_deviation_where_the_app_rejected_every_event_on_its_own_is_inconclusive() -> None:
    # A public app's writer failed every one of chaoskit's events on a field they lack,
    # no fault fired: the run "deviated" under a throttling fault that never fired. That
    # shows the payload, not the app under the fault.
    journal = _journal()
    journal["deviated"] = True
    enrich_journal(journal, "r", {}, "sandbox", read_records=lambda run, cfg: _rejected(0))
    result = _result(journal)
    assert result.view.outcome == "inconclusive" and result.exit_code == 4, result.summary()
    assert any(
        r.startswith("no event was processed, and 4 were failed") for r in result.view.inconclusive
    )
    # With one event processed the run tested something: the deviation stands.
    journal = _journal()
    journal["deviated"] = True
    enrich_journal(journal, "r", {}, "sandbox", read_records=lambda run, cfg: _rejected(1))
    assert _result(journal).view.outcome == "deviated"


def test_the_html_report_shows_fired_counts_and_the_stage_breakdown() -> None:
    from chaoskit.report.html import render_views

    result = _enriched(fired=0)
    page = render_views([result.view])
    assert "inconclusive: exception fault on &#39;processor&#39;" in page or (
        "inconclusive: exception fault on 'processor'" in page
    )
    assert "<th>events hit</th>" in page and "<th>dead-lettered</th>" in page
    assert '<td class="mono">processor</td>' in page


def test_a_game_day_says_why_an_experiment_is_inconclusive(tmp_path: Path) -> None:
    # The game day printed "inconclusive (34 s)" and its summary a ❔: why was only in
    # the journal and the HTML report, so a user read it as a flaky pass.
    import io

    from rich.console import Console

    from chaoskit.gameday.history import History
    from chaoskit.gameday.run import run_gameday
    from chaoskit.gameday.spec import load_gameday

    ok = Path(__file__).parents[1] / "gameday" / "fixtures" / "ok.yaml"
    (tmp_path / "gd.yaml").write_text(f"name: day\nexperiments:\n  - {ok}\n")
    console = Console(file=io.StringIO(), width=80)
    result = run_gameday(
        load_gameday(tmp_path / "gd.yaml"), tmp_path / "runs",
        history=History(tmp_path / "h.sqlite"), console=console,
        runner=lambda *a, **k: _enriched(fired=0),
    )  # fmt: skip
    assert result.exit_code == 4
    out = console.file.getvalue()  # type: ignore[attr-defined]
    why = "inconclusive: exception fault on 'processor' (rate 0.3) fired 0 times"
    assert f"  {why}" in out.splitlines(), out
    summary = (result.folder / "summary.md").read_text()
    assert "Why inconclusive:" in summary
    assert "- errors: exception fault on 'processor' \\(rate 0.3\\) fired 0 times" in summary


def _throttled(swallowed: int) -> RunResult:
    """Four events processed under an SDK throttle; in one invocation (on e1 and e2) a
    call gave up on it, and the handler swallowed ``swallowed`` such calls."""
    journal = _journal()
    activity = journal["run"][0]["activity"]
    activity["provider"]["func"] = "inject_sdk_throttle"
    activity["provider"]["arguments"] = {"function_name": "processor", "rate": 0.7,
                                         "service": "dynamodb"}  # fmt: skip
    records = [r for r in _records(0)]
    base = {"fault": 0, "kind": "sdk_throttle", "function": "processor"}
    records += [
        Record("r", f"{FAULT_PREFIX}q1#0", FAULT, 2.0, "sqs", {**base, "event_ids": ["e0"]}),
        Record("r", f"{FAULT_PREFIX}q2#0", FAULT, 2.0, "sqs",
               {**base, "event_ids": ["e1", "e2"], "gave_up": 2, "swallowed": swallowed}),
        Record("r", f"{FAULT_PREFIX}q2#1", FAULT, 2.0, "sqs", {**base, "event_ids": ["e1", "e2"]}),
    ]  # fmt: skip
    enrich_journal(journal, "r", {}, "sandbox", read_records=lambda run, cfg: records)
    return _result(journal)


def test_a_held_run_where_the_function_swallowed_a_call_that_gave_up_is_inconclusive() -> None:
    # An app catching the SDK's final error and returning success had its events counted
    # processed under SDK throttling: "passed", though its writes were never made.
    from chaoskit.report.html import render_views

    result = _throttled(swallowed=1)
    assert result.view.outcome == "inconclusive" and result.exit_code == 4, result.summary()
    [why] = result.view.inconclusive
    assert why.startswith("1 call(s) in 'processor' failed for good on the injected sdk_throttle")
    assert "(events e1, e2)" in why
    assert result.view.faults_fired == [{"kind": "sdk_throttle", "function": "processor",
                                         "rate": 0.7, "fired": 3, "events": 3, "gave_up": 2,
                                         "swallowed": 1}]  # fmt: skip
    assert "fired 3 times on 3 events; 2 call(s) failed for good on it, 1 of them swallowed" in (
        result.summary()
    )
    page = render_views([result.view])
    assert "<th>calls failed for good</th><th>swallowed</th>" in page
    assert '<td class="num">2</td><td class="num no">1</td>' in page


def test_a_report_of_faults_some_of_which_had_calls_give_up_renders() -> None:
    # The demo's game day report failed to render ("'dict object' has no attribute
    # 'swallowed'"): one experiment's fault had calls give up, another's had none.
    from chaoskit.report.html import render_views

    page = render_views([_throttled(swallowed=0).view, _enriched(fired=2).view])
    assert page.count("<th>swallowed</th>") == 1
    views = [_throttled(swallowed=0).view]
    views[0].faults_fired.append(
        {"kind": "exception", "function": "other", "rate": 0.5, "fired": 1, "events": 1}
    )
    page = render_views(views)
    assert '<td class="num">2</td><td class="num ">0</td>' in page
    assert '<td class="num"></td><td class="num "></td>' in page


def test_calls_that_gave_up_and_were_reported_failed_leave_the_run_passed() -> None:
    from chaoskit.report.html import render_views

    result = _throttled(swallowed=0)
    assert result.view.outcome == "passed" and result.exit_code == 0, result.summary()
    assert "2 call(s) failed for good on it, 0 of them swallowed" in result.summary()
    assert "<th>swallowed</th>" in render_views([result.view])
    assert "<th>swallowed</th>" not in render_views([_enriched(fired=2).view])


def _chained(reached: int) -> RunResult:
    """Four events processed by a writer whose table's stream feeds a reader, the last
    stage; ``reached`` of them were seen by the reader."""
    out = [Record("r", f"e{i}", "sent", 1.0) for i in range(4)]
    out += [Record("r", f"e{i}", "processed", 2.0, "kinesis", {"function": "writer"})
            for i in range(4)]  # fmt: skip
    out += [Record("r", f"e{i}", "processed", 3.0, "dynamodb", {"function": "reader"})
            for i in range(reached)]  # fmt: skip
    journal = _journal()
    journal["deviated"] = True
    config = {"chaoskit_terminal_stages": ["reader"], "chaoskit_require_faults_fired": False}
    enrich_journal(journal, "r", config, "sandbox", read_records=lambda run, cfg: out)
    return _result(journal)


def test_events_none_of_which_reached_the_last_stage_are_not_called_lost() -> None:
    # A stream consumer writes {PK: data.batch, SK: data.id} to a table whose stream
    # feeds the last stage: the item does not carry chaoskit's mark, so no event can be
    # followed there. The run "deviated" with every event "lost, stopped after" the
    # consumer, which had stored each one.
    result = _chained(reached=0)
    assert result.view.outcome == "inconclusive" and result.exit_code == 4, result.summary()
    (why,) = result.view.inconclusive
    assert why.startswith("all 4 lost event(s) stopped after writer, and no event of the run")
    assert "set chaoskit_terminal_stages to [writer]" in why
    # One event followed all the way: the chain carries the mark, the losses are real.
    assert _chained(reached=1).view.outcome == "deviated"


def _filtered(journal: dict[str, Any], dropped: bool) -> dict[str, Any]:
    """Add a kill switch's load of 4 events (all lost) that a filter on the way passed or not."""
    output: dict[str, Any] = {"run_id": "r", "target_type": "sqs", "target": "orders", "sent": 4}
    if dropped:
        pattern = '{"body":{"region":[{"prefix":"us-"}]}}'
        output["filtered_out"] = [{"mapping": "m-1", "function": "writer", "patterns": [pattern]}]
    journal["run"] = [{
        "activity": {"type": "action", "name": "send",
                     "provider": {"type": "python", "module": "chaoskit.faults.load",
                                  "func": "send_events"}},
        "status": "succeeded", "output": output,
    }]  # fmt: skip
    journal["deviated"] = True
    lost = [Record("r", f"e{i}", "sent", 1.0) for i in range(4)]
    enrich_journal(journal, "r", {}, "sandbox", read_records=lambda run, cfg: lost)
    return journal


def test_a_deviation_whose_load_a_filter_on_the_way_dropped_is_inconclusive() -> None:
    # A payload edited so the FilterCriteria of the queue's reader passes none of it: Lambda
    # deletes the messages unseen, every event "lost, never delivered". That is the filter
    # at work, not the kill switch.
    result = _result(_filtered(_journal(), dropped=True))
    assert result.view.outcome == "inconclusive" and result.exit_code == 4, result.summary()
    assert result.journal["chaoskit"]["filtered_out"] is True
    reason = next(r for r in result.view.inconclusive if "FilterCriteria" in r)
    assert "the 4 event(s) sent to sqs 'orders'" in reason
    assert "writer's event source mapping m-1" in reason and '{"prefix":"us-"}' in reason
    # The same losses with a load the filter passes: the deviation stands.
    journal = _filtered(_journal(), dropped=False)
    assert _result(journal).view.outcome == "deviated"
    assert journal["chaoskit"]["filtered_out"] is False
