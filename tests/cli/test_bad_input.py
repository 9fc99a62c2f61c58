"""Bad input: exit 2, one clear line on stderr naming the file or field, nothing touched.

Each case reproduces a report of a traceback, a hang or a run that went ahead. The CLI
runs in-process; every target points at a real HTTP server on 127.0.0.1 that records
any request, and the test asserts it received none and that no journal was written.
"""

from pathlib import Path

import pytest
from recording import Recorder, run_cli

EXPERIMENT = """\
title: {title}
description: bad input cases
configuration: {configuration}
method:
  - type: action
    name: the-action
    provider:
      type: python
      module: {module}
      func: {func}
      arguments: {arguments}
"""


def experiment(
    tmp_path: Path,
    arguments: str = "{function_names: [orders], concurrency: 0}",
    module: str = "chaoskit.faults.kill_switch",
    func: str = "set_reserved_concurrency",
    configuration: str = "{}",
    title: str = "bad input",
    name: str = "exp.yaml",
) -> Path:
    path = tmp_path / name
    path.write_text(
        EXPERIMENT.format(
            title=title, configuration=configuration, module=module, func=func, arguments=arguments
        ),
        encoding="utf-8",
    )
    return path


def assert_refused(
    capsys: pytest.CaptureFixture[str], recorder: Recorder, argv: list[str], *needles: str
) -> str:
    code = run_cli(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert recorder.requests == [], recorder.requests
    home = Path("home")
    written = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    assert not [p for p in written if p.suffix in (".json", ".jsonl")], written
    return lines[0]


ALIAS_BOMB = (
    "{a: &a [x, x, x, x, x, x, x, x, x], b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a], "
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b], d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c], "
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d], f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e], "
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f], h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]}"
)


def test_yaml_alias_bomb_in_configuration(capsys, recorder, tmp_path):
    path = experiment(tmp_path, configuration=ALIAS_BOMB)
    assert_refused(capsys, recorder, ["run", str(path)], "exp.yaml", "alias")


def test_latin1_experiment(capsys, recorder, tmp_path):
    path = experiment(tmp_path, title="café")
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    assert_refused(capsys, recorder, ["run", str(path)], "exp.yaml", "not UTF-8", "0xe9")


def test_binary_experiment(capsys, recorder, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_bytes(b"title: x\n\x00\x01\x02\xff\xfe binary")
    assert_refused(capsys, recorder, ["run", str(path)], "exp.yaml", "binary")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", "[" * 50_000 + "]" * 50_000),
        ("deep.yaml", "title: " + "[" * 50_000 + "]" * 50_000),
        ("nested.json", '{"title": ' + "[" * 200 + "]" * 200 + "}"),
    ],
)
def test_deeply_nested_documents(capsys, recorder, tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert_refused(capsys, recorder, ["run", str(path)], name, "nested")


def test_huge_experiment_is_refused_before_it_is_read(capsys, recorder, tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:
        fh.write(b"title: x\n")
        fh.truncate(54 * 1024 * 1024)  # sparse: 54 MB on paper, nothing to read
    assert_refused(capsys, recorder, ["run", str(path)], "huge.yaml", "bytes")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://[::1", "Invalid IPv6"),
        ("http://127.0.0.1:99999", "out of range"),
        ("http://127.0.0.1:abc", "abc"),
        ("ftp://127.0.0.1:21", "expected http"),
        ("http://127.0.0.1:4566\nx", "control character"),
    ],
)
def test_invalid_endpoint_url(capsys, recorder, tmp_path, url, needle):
    path = experiment(tmp_path)
    assert_refused(capsys, recorder, ["run", str(path), "--endpoint-url", url], needle)


def test_invalid_endpoint_url_in_audit(capsys, recorder):
    assert_refused(capsys, recorder, ["audit", "--endpoint-url", "http://[::1"], "Invalid IPv6")


@pytest.mark.parametrize(
    ("module", "func", "arguments", "needle"),
    [
        (
            "chaoskit.faults.kill_switch",
            "set_reserved_concurrency",
            "{function_names: [orders], concurrency: abc}",
            "'concurrency': got 'abc', expected int",
        ),
        (
            "chaoskit.faults.kill_switch",
            "set_reserved_concurrency",
            "{function_names: [orders], concurrency: -5}",
            "'concurrency': got -5",
        ),
        (
            "chaoskit.faults.inject",
            "inject_latency",
            "{function_name: orders, ms: 100, rate: 5}",
            "'rate': got 5",
        ),
        (
            "chaoskit.faults.inject",
            "inject_latency",
            "{function_name: orders, ms: 1.0e+12}",
            "'ms': got 1000000000000.0, expected a number >= 0 and <= 900000",
        ),
        (
            "chaoskit.faults.inject",
            "inject_latency",
            "{function_name: orders, ms: 1e12}",  # YAML 1.1 reads this as a string
            "'ms': got '1e12', expected float",
        ),
        (
            "chaoskit.faults.canary",
            "shift_alias_traffic",
            "{function_name: orders, alias: live, version: '2', weight: 5}",
            "'weight': got 5",
        ),
        (
            "chaoskit.faults.load",
            "send_events",
            "{target_type: sqs, target: q, count: -1}",
            "'count': got -1",
        ),
        (
            "chaoskit.faults.inject",
            "inject_latency",
            "{function_name: [orders], ms: 100}",
            "'function_name'",
        ),
    ],
)
def test_wrong_argument_is_refused_before_the_first_action(
    capsys, recorder, tmp_path, module, func, arguments, needle
):
    path = experiment(tmp_path, arguments=arguments, module=module, func=func)
    line = assert_refused(capsys, recorder, ["run", str(path)], "exp.yaml", needle)
    assert "the-action" in line


def test_wrong_argument_given_through_a_variable(capsys, recorder, tmp_path):
    path = experiment(
        tmp_path,
        arguments="{function_names: [orders], concurrency: '${c}'}",
        configuration="{c: 0}",
    )
    assert_refused(capsys, recorder, ["run", str(path), "--var", "c=-5"], "'concurrency': got -5")


def test_valid_variable_is_accepted_at_load(tmp_path):
    from chaoskit.runner import load_experiment_file

    path = experiment(
        tmp_path,
        arguments="{function_names: [orders], concurrency: '${c}'}",
        configuration="{c: -5}",
    )
    # The experiment's own default may be replaced by --var: checked at run time only.
    assert load_experiment_file(path)["title"] == "bad input"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("not json", "not valid JSON"),
        ("[]", "not a Chaos Toolkit journal"),
        ('{"status": 5, "experiment": {}}', "field 'status'"),
        ('{"status": "completed", "experiment": []}', "field 'experiment'"),
        ('{"status": "completed", "experiment": {}, "run": 7}', "field 'run'"),
        ('{"status": "completed", "experiment": {}, "run": [5]}', "malformed"),
        ('{"status": "completed", "experiment": {}, "chaoskit": []}', "field 'chaoskit'"),
        (
            '{"status": "completed", "experiment": {}, "chaoskit": {"changes": 5}}',
            "malformed",
        ),
    ],
)
def test_report_on_malformed_journals(capsys, recorder, tmp_path, content, needle):
    path = tmp_path / "journal.json"
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "report.html"
    assert_refused(capsys, recorder, ["report", str(path), "-o", str(out)], needle)
    assert not out.exists()


def test_audit_against_an_endpoint_nothing_listens_on(capsys, recorder):
    from tests.support.net import free_port

    port = free_port()  # nothing listens on it
    assert_refused(
        capsys,
        recorder,
        ["audit", "--target", "localstack", "--endpoint-url", f"http://127.0.0.1:{port}"],
        "nothing answers",
    )


def _gameday(tmp_path: Path, extra: str) -> Path:
    experiment(tmp_path)
    path = tmp_path / "gd.yaml"
    path.write_text(f"experiments: [exp.yaml]\n{extra}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["validate", "serve", "schedule"])
def test_cron_that_never_fires(capsys, recorder, tmp_path, command):
    path = _gameday(tmp_path, 'schedule: "0 9 30 2 *"')
    argv = ["gameday", command, str(path)] + (["--emit", "cron"] if command == "schedule" else [])
    assert_refused(capsys, recorder, argv, "gd.yaml", "never fires")


def test_leap_day_cron_is_valid(capsys, recorder, tmp_path):
    path = _gameday(tmp_path, 'schedule: "0 9 29 2 *"')
    assert run_cli(["gameday", "validate", str(path)]) == 0


@pytest.mark.parametrize("command", ["validate", "schedule"])
def test_newline_in_gameday_name(capsys, recorder, tmp_path, command):
    path = _gameday(tmp_path, 'name: "x\\n* * * * * touch /tmp/owned"\nschedule: "0 9 * * 1"')
    argv = ["gameday", command, str(path)] + (["--emit", "cron"] if command == "schedule" else [])
    assert_refused(capsys, recorder, argv, "field 'name'", "control character")


def test_wrong_flag_type_is_one_line(capsys, recorder, tmp_path):
    assert_refused(capsys, recorder, ["sandbox", "up", "--port", "abc"], "--port")


TEMPLATE_CASES = {
    "latin1": ("t.yaml", "Resources: {Q: {Type: 'AWS::SQS::Queue'}} # café\n".encode("latin-1")),
    "binary": ("t.yaml", b"Resources:\x00\x01\xff"),
    "alias-bomb": ("t.yaml", ("Resources: {}\nMetadata: " + ALIAS_BOMB + "\n").encode()),
    "deep": ("t.json", ("[" * 50_000 + "]" * 50_000).encode()),
}


@pytest.mark.parametrize("case", sorted(TEMPLATE_CASES))
@pytest.mark.parametrize("command", ["init", "deploy"])
def test_bad_templates(capsys, recorder, tmp_path, case, command):
    name, content = TEMPLATE_CASES[case]
    path = tmp_path / name
    path.write_bytes(content)
    argv = [command, "--template", str(path)]
    if command == "init":
        argv += ["-o", str(tmp_path / "suite")]
    assert_refused(capsys, recorder, argv, name)
    assert not (tmp_path / "suite").exists()


def test_huge_template(capsys, recorder, tmp_path):
    path = tmp_path / "t.yaml"
    with open(path, "wb") as fh:
        fh.truncate(54 * 1024 * 1024)
    assert_refused(capsys, recorder, ["deploy", "--template", str(path)], "bytes")


def test_init_skips_a_deeply_nested_json_next_to_the_template(capsys, recorder, tmp_path):
    (tmp_path / "deep.json").write_text("[" * 50_000 + "]" * 50_000, encoding="utf-8")
    template = tmp_path / "template.yaml"
    template.write_text("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n", encoding="utf-8")
    code = run_cli(["init", "--template", str(template), "-o", str(tmp_path / "suite")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
