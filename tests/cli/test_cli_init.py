"""``chaoskit init``: what it prints, what it writes, and that it never overwrites silently."""

from pathlib import Path

import pytest

from chaoskit.cli.main import main
from chaoskit.gameday.spec import load_gameday

APPS = Path(__file__).resolve().parents[1] / "apps"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def test_init_prints_what_it_found_wrote_and_could_not_cover(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = APPS / "sns-async" / "template.yaml"
    out_dir = tmp_path / "chaos"
    code, out, err = run(
        ["init", "--template", str(template), "--stack-name", "sns-app", "-o", str(out_dir)],
        capsys,
    )
    assert code == 0, err
    assert "experiments aim at stack 'sns-app'" in out
    assert "function ProcessorFunction (python3.13): topic ProcessingTopic" in out
    assert "errors-processorfunction-sns.yaml (errors)" in out
    assert "its code uses no AWS SDK client" in out
    gameday = load_gameday(out_dir / "gameday.yaml")
    assert gameday.vars == {"chaoskit_stack": "sns-app"}
    assert [e.path.name for e in gameday.experiments] == ["errors-processorfunction-sns.yaml"]

    code, out, err = run(["init", "--template", str(template), "-o", str(out_dir)], capsys)
    assert code == 2
    assert "already exists" in err and "--force" in err


def test_init_without_template_or_stack_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["init", "-o", str(tmp_path)], capsys)
    assert code == 2 and "--template PATH" in err and "--stack NAME" in err
    code, _, err = run(
        ["init", "--template", str(tmp_path / "nope.yaml"), "-o", str(tmp_path)], capsys
    )
    assert code == 2 and "nope.yaml" in err
