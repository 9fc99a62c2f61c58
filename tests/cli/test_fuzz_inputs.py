"""Fuzz the CLI's inputs: experiments, game days, the settings file and journals.

Property, for every generated input: the command either refuses it with exit 2,
exactly one line on stderr and no request to AWS, or accepts it (exit 0 for the
commands that only read); it never raises (an exception escaping ``main`` is a
traceback for the user). Every target points at a real HTTP server on 127.0.0.1
that records each request. The CLI runs in-process; examples are capped so the
test stays within seconds on a two-core machine (``CHAOSKIT_FUZZ_EXAMPLES``
raises the count for a longer campaign).
"""

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from recording import Recorder, run_cli

EXAMPLES = int(os.environ.get("CHAOSKIT_FUZZ_EXAMPLES") or 25)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=not os.environ.get("CHAOSKIT_FUZZ_EXAMPLES"),
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

#: Activities the structured experiments call, with their real argument names.
ACTIVITIES = {
    ("chaoskit.faults.kill_switch", "set_reserved_concurrency"): [
        "function_names",
        "tags",
        "concurrency",
    ],
    ("chaoskit.faults.inject", "inject_latency"): ["function_name", "ms", "rate", "duration"],
    ("chaoskit.faults.canary", "shift_alias_traffic"): [
        "function_name",
        "alias",
        "version",
        "weight",
    ],
    ("chaoskit.faults.load", "send_events"): ["target_type", "target", "count", "concurrency"],
    ("probes.dlq", "peek_messages"): ["queue", "max_messages"],
}


@st.composite
def experiments(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed experiment whose one chaoskit activity gets arbitrary argument values."""
    (module, func), names = draw(st.sampled_from(sorted(ACTIVITIES.items())))
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    arguments = {name: draw(values) for name in chosen}
    doc: dict[str, Any] = {
        "title": draw(st.text(max_size=30)),
        "description": "fuzz",
        "method": [
            {
                "type": draw(st.sampled_from(["action", "probe"])),
                "name": draw(st.text(min_size=1, max_size=10)),
                "provider": {
                    "type": "python",
                    "module": module,
                    "func": func,
                    "arguments": arguments,
                },
            }
        ],
    }
    if draw(st.booleans()):
        doc["configuration"] = draw(st.dictionaries(st.text(max_size=8), values, max_size=3))
    return doc


def _file_contents(documents: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Raw bytes, text in odd encodings, or a document serialised as YAML."""
    return st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.text(max_size=60).map(lambda t: t.encode("utf-16")),
        documents.map(
            lambda d: yaml.safe_dump(d, allow_unicode=True).encode("utf-8", "surrogatepass")
        ),
    )


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each example's working folder goes (pytest keeps only its last few runs')."""
    return tmp_path_factory.mktemp("fuzz")


def _check(capsys: pytest.CaptureFixture[str], recorder: Recorder, code: int, ok: set[int]) -> None:
    err = capsys.readouterr().err
    event(f"exit {code}")
    assert "Traceback" not in err, err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("chaoskit: error: "), err
        assert recorder.requests == [], recorder.requests
    else:
        assert code in ok, (code, err)


def _reset(recorder: Recorder, monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    recorder.requests.clear()
    work = Path(tempfile.mkdtemp(dir=root))
    monkeypatch.chdir(work)
    monkeypatch.setenv("CHAOSKIT_HOME", str(work / "home"))
    return work


@FUZZ
@given(content=_file_contents(values | experiments()))
def test_fuzz_run_experiment_file(capsys, recorder, monkeypatch, fuzz_root, content):
    work = _reset(recorder, monkeypatch, fuzz_root)
    path = work / "exp.yaml"
    path.write_bytes(content)
    # A valid experiment would run against the recording endpoint: only refusals are judged.
    code = run_cli(["gameday", "validate", str(_gameday(work, "exp.yaml"))])
    _check(capsys, recorder, code, {0})
    if code == 2:
        _check(capsys, recorder, run_cli(["run", str(path)]), set())


@FUZZ
@given(doc=experiments(), as_json=st.booleans())
def test_fuzz_experiment_arguments(capsys, recorder, monkeypatch, fuzz_root, doc, as_json):
    import json

    work = _reset(recorder, monkeypatch, fuzz_root)
    path = work / ("exp.json" if as_json else "exp.yaml")
    text = json.dumps(doc) if as_json else yaml.safe_dump(doc, allow_unicode=True)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code = run_cli(["gameday", "validate", str(_gameday(work, path.name))])
    _check(capsys, recorder, code, {0})
    if code == 2:
        # What validate refuses, run refuses too, before any request.
        _check(capsys, recorder, run_cli(["run", str(path)]), set())


def _gameday(work: Path, experiment: str, extra: dict[str, Any] | None = None) -> Path:
    path = work / "gd.yaml"
    path.write_text(
        yaml.safe_dump({"experiments": [experiment], **(extra or {})}), encoding="utf-8"
    )
    return path


NOOP = """\
title: noop
description: d
method:
  - {type: probe, name: cwd, provider: {type: python, module: os, func: getcwd}}
"""

cron_fields = st.text(alphabet="0123456789*/,-LW#?JANFEBMONSUN \n\t", max_size=6)


@st.composite
def gamedays(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {"experiments": draw(st.sampled_from([["noop.yaml"], []]) | values)}
    for key in ("name", "target", "order", "seed", "on_deviation", "vars", "endpoint_url"):
        if draw(st.booleans()):
            doc[key] = draw(values)
    if draw(st.booleans()):
        doc["schedule"] = " ".join(draw(st.lists(cron_fields, min_size=4, max_size=6)))
    return doc


@FUZZ
@given(
    content=_file_contents(gamedays()),
    emit=st.sampled_from(["cron", "eventbridge", "github-actions"]),
)
def test_fuzz_gameday_files(capsys, recorder, monkeypatch, fuzz_root, content, emit):
    work = _reset(recorder, monkeypatch, fuzz_root)
    (work / "noop.yaml").write_text(NOOP, encoding="utf-8")
    path = work / "gd.yaml"
    path.write_bytes(content)
    _check(capsys, recorder, run_cli(["gameday", "validate", str(path)]), {0})
    code = run_cli(["gameday", "schedule", str(path), "--emit", emit])
    out = capsys.readouterr().out if code == 0 else ""
    _check(capsys, recorder, code, {0})
    if code == 0 and emit == "cron":
        assert len(out.splitlines()) == 2, out  # a comment and one entry, nothing injected


@st.composite
def settings_documents(draw: st.DrawFn) -> dict[str, Any]:
    keys = [
        "chaoskit_allow",
        "chaoskit_dry_run",
        "chaoskit_stop_alarm_interval",
        "chaoskit_lock_ttl",
        "chaoskit_max_fault_duration",
        "chaoskit_allow_unlisted",
    ]
    chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=3))
    return {key: draw(values) for key in chosen}


@FUZZ
@given(content=_file_contents(settings_documents() | values))
def test_fuzz_settings_file(capsys, recorder, monkeypatch, fuzz_root, content):
    work = _reset(recorder, monkeypatch, fuzz_root)
    (work / "home").mkdir()
    (work / "home" / "settings.yaml").write_bytes(content)
    (work / "noop.yaml").write_text(NOOP, encoding="utf-8")
    # The no-op experiment calls no AWS API: valid settings pass, bad ones are refused.
    _check(capsys, recorder, run_cli(["run", str(work / "noop.yaml")]), {0})


@st.composite
def journals(draw: st.DrawFn) -> dict[str, Any]:
    run_items = st.dictionaries(
        st.sampled_from(["activity", "status", "output", "start", "end", "duration", "exception"]),
        values,
        max_size=5,
    )
    doc: dict[str, Any] = {
        "status": draw(st.sampled_from(["completed", "failed", "interrupted"]) | values),
        "experiment": draw(
            st.fixed_dictionaries({"title": values}) | st.dictionaries(st.text(max_size=6), values)
        ),
    }
    if draw(st.booleans()):
        doc["run"] = draw(st.lists(run_items, max_size=3) | values)
    if draw(st.booleans()):
        doc["steady_states"] = draw(values)
    if draw(st.booleans()):
        doc["chaoskit"] = draw(
            st.dictionaries(
                st.sampled_from(["changes", "counts", "timeline", "faults", "run_id", "rollback"]),
                values,
                max_size=4,
            )
        )
    return doc


@FUZZ
@given(doc=journals(), raw=st.none() | st.binary(max_size=100))
def test_fuzz_report_journals(capsys, recorder, monkeypatch, fuzz_root, doc, raw):
    import json

    work = _reset(recorder, monkeypatch, fuzz_root)
    path = work / "journal.json"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8", errors="surrogatepass")
    code = run_cli(["report", str(path), "-o", str(work / "report.html")])
    _check(capsys, recorder, code, {0})


@st.composite
def undo_lines(draw: st.DrawFn) -> bytes:
    """One line of an undo journal: a change-like event, random JSON, or raw bytes."""
    event = draw(
        st.fixed_dictionaries(
            {"id": st.sampled_from(["c1", "c2"]) | values},
            optional={
                "run_id": values,
                "action": st.sampled_from(["set_reserved_concurrency", "inject_latency"]) | values,
                "resource": values,
                "status": st.sampled_from(["pending", "applied", "restored"]) | values,
                "snapshot": values,
                "target": values,
            },
        )
    )
    import json

    return draw(
        st.just(json.dumps(event).encode("utf-8", "surrogatepass"))
        | st.binary(max_size=40)
        | values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass"))
    )


@FUZZ
@given(lines=st.lists(undo_lines(), max_size=4))
def test_fuzz_undo_journal(capsys, recorder, monkeypatch, fuzz_root, lines):
    work = _reset(recorder, monkeypatch, fuzz_root)
    folder = work / "home" / "journal"
    folder.mkdir(parents=True)
    (folder / "r1.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    # Listing reads the journal only: it succeeds or refuses, it never calls AWS.
    _check(capsys, recorder, run_cli(["rollback"]), {0})
    assert recorder.requests == []
    # Restoring may call AWS (the recording endpoint answers 500): judged only on refusals.
    _check(capsys, recorder, run_cli(["rollback", "--all"]), {0, 1, 3})
