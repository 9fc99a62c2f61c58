"""Journal views: any journal, ours or not, reads the same way."""

from typing import Any

from chaoskit.report.model import INSTRUMENTATION, as_epoch, count_of, view_journal


def test_plain_journal_has_no_chaoskit_parts(plain_journal: dict[str, Any]) -> None:
    assert "chaoskit" not in plain_journal
    view = view_journal(plain_journal)
    assert view.title == "plain chaostoolkit experiment"
    assert view.outcome == "passed" and view.ok
    assert view.counts is None and view.timeline == [] and view.changes == []
    assert [p.name for p in view.before] == ["root-is-dir"] and view.before_met is True
    assert [a.name for a in view.method] == ["basename"]
    assert view.start is not None and view.end is not None and view.end >= view.start


def test_chaoskit_journal_view(chaoskit_journal: dict[str, Any]) -> None:
    view = view_journal(chaoskit_journal)
    assert view.outcome == "deviated" and not view.ok
    assert view.counts is not None
    assert (view.counts.sent, view.counts.lost, view.counts.duplicates) == (50, 3, 1)
    assert view.counts.lost_ids == ("e1", "e2", "e3")
    assert [c.restored for c in view.changes] == [True, False]
    assert [c.resource for c in view.unrestored] == ["orders-api"]
    assert view.after[0].met is False and '"lost": 3' in view.after[0].output
    assert view.breaker[0]["to"] == "open" and view.failover[0]["name"] == "dns answers secondary"


def test_fault_windows_fall_back_to_changes(chaoskit_journal: dict[str, Any]) -> None:
    del chaoskit_journal["chaoskit"]["fault_windows"]
    windows = view_journal(chaoskit_journal).fault_windows
    assert [w.label for w in windows] == [
        "set_reserved_concurrency orders-worker",
        "inject_latency orders-api",
    ]
    assert windows[1].end == as_epoch(chaoskit_journal["end"])  # never restored: until the end


def test_time_to_recover_counts_from_the_last_fault_end(chaoskit_journal: dict[str, Any]) -> None:
    t0 = 1_700_000_000.0
    chaoskit_journal["chaoskit"]["timeline"] = [
        {"t": t0 + 1, "sent": 10, "processed": 0, "dead_lettered": 0, "lost": 10},
        {"t": t0 + 5, "sent": 10, "processed": 5, "dead_lettered": 0, "lost": 5},
        {"t": t0 + 7.5, "sent": 10, "processed": 10, "dead_lettered": 0, "lost": 0},
    ]
    assert view_journal(chaoskit_journal).time_to_recover == 3.5  # window ends at t0 + 4


def test_the_layer_and_its_alias_are_not_faults(chaoskit_journal: dict[str, Any]) -> None:
    """They last the whole run: shaded as faults, they hid the fault and the recovery."""
    t0 = 1_700_000_000.0
    chaoskit_journal["chaoskit"]["fault_windows"] = [
        {"start": t0, "end": t0 + 9, "label": "enable_chaoskit_layer orders-worker"},
        {"start": t0, "end": t0 + 9, "label": "publish_version_with_layer orders-worker:versions"},
        {"start": t0, "end": t0 + 9, "label": "point_alias_at_layer_version orders-worker:live"},
        {"start": t0 + 1, "end": t0 + 4, "label": "set_reserved_concurrency orders-worker"},
    ]
    chaoskit_journal["chaoskit"]["timeline"] = [
        {"t": t0 + 1, "sent": 10, "processed": 0, "dead_lettered": 0, "lost": 10},
        {"t": t0 + 7.5, "sent": 10, "processed": 10, "dead_lettered": 0, "lost": 0},
    ]
    view = view_journal(chaoskit_journal)
    assert [w.label for w in view.fault_windows] == ["set_reserved_concurrency orders-worker"]
    assert view.time_to_recover == 3.5  # from the kill switch's end, not the layer's

    del chaoskit_journal["chaoskit"]["fault_windows"]  # a journal with changes only
    changes = view_journal(chaoskit_journal).changes
    assert all(c.action not in INSTRUMENTATION for c in changes)  # the fixture's own
    windows = view_journal(chaoskit_journal).fault_windows
    assert not any(w.label.startswith(tuple(INSTRUMENTATION)) for w in windows)


def test_instrumentation_names_the_actions_that_instrument() -> None:
    from chaoskit.faults import _aliases, layer

    assert {layer.ENABLE_ACTION, _aliases.PUBLISH_ACTION, _aliases.ALIAS_ACTION} == INSTRUMENTATION


def test_counts_from_a_timeline_when_no_reconciliation(chaoskit_journal: dict[str, Any]) -> None:
    del chaoskit_journal["chaoskit"]["ledger"]
    counts = view_journal(chaoskit_journal).counts
    assert counts is not None and (counts.sent, counts.processed, counts.dead_lettered) == (
        50,
        43,
        2,
    )


def test_interrupted_and_failed_before_are_not_passes(plain_journal: dict[str, Any]) -> None:
    interrupted = {**plain_journal, "status": "interrupted"}
    assert view_journal(interrupted).outcome == "interrupted"
    before_failed = {
        **plain_journal,
        "steady_states": {"before": {"steady_state_met": False, "probes": []}, "after": None},
    }
    assert view_journal(before_failed).outcome == "failed"


def test_a_failed_method_step_fails_a_run_whose_hypothesis_held(
    plain_journal: dict[str, Any],
) -> None:
    assert view_journal(plain_journal).outcome == "passed"
    runs = [dict(r) for r in plain_journal["run"]]
    assert runs, "the fixture's experiment has a method"
    runs[0] = {**runs[0], "status": "failed", "exception": ["AccessDeniedException: no\n"]}
    view = view_journal({**plain_journal, "run": runs})
    assert view.outcome == "failed"
    assert [s.error for s in view.failed_steps] == ["AccessDeniedException: no"]


def test_helpers() -> None:
    assert as_epoch("1970-01-01T00:00:10+00:00") == 10.0
    assert as_epoch("12.5") == 12.5 and as_epoch("nope") is None and as_epoch(True) is None
    assert count_of(["a", "b"]) == 2 and count_of({"total": 4, "ids": []}) == 4
    assert count_of(3.0) == 3 and count_of(None) is None and count_of({"x": 1}) is None
