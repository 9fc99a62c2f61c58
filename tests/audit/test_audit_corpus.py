"""The audit against hand-labelled public templates, side by side with serverless-rules.

The labels (``corpus/labels.tsv``) were written by reading each template; the
benchmark ``benchmarks/audit_corpus.py`` prints the same figures as a table.
"""

import pytest
import scoring

MIN_TEMPLATES = 25


def test_corpus_is_vendored_with_sources_and_fully_labelled() -> None:
    templates = scoring.templates()
    assert len(templates) >= MIN_TEMPLATES
    hazards, folders = scoring.labels()
    names = {t.parent.name for t in templates}
    assert folders == names, f"unlabelled: {names - folders}, unknown: {folders - names}"
    for t in templates:
        assert (t.parent / "LICENSE").is_file(), t.parent
        source = (t.parent / "SOURCE.md").read_text()
        assert "Repository: https://github.com/" in source and "Commit: " in source
    assert len(hazards) >= 50


@pytest.fixture(scope="module")
def chaoskit_score() -> scoring.Score:
    hazards, _ = scoring.labels()
    return scoring.score(scoring.run_chaoskit(), hazards)


def test_chaoskit_recall_and_precision_meet_the_targets(chaoskit_score: scoring.Score) -> None:
    s = chaoskit_score
    assert s.recall >= 0.9, f"recall {s.recall:.2f}; missed: {s.missed}"
    assert s.precision >= 0.9, f"precision {s.precision:.2f}; false: {s.false_positives}"


def test_every_real_hazard_serverless_rules_finds_chaoskit_finds() -> None:
    hazards, _ = scoring.labels()
    theirs = scoring.run_serverless_rules()
    ours = scoring.run_chaoskit()
    assert theirs.outputs > 0, (
        "serverless-rules reported nothing: is cfn-lint-serverless installed?"
    )
    missing = sorted((theirs.found & hazards) - ours.found)
    assert not missing, f"serverless-rules finds, chaoskit does not: {missing}"
