"""Helpers of the audit tests: write a small template, audit it, index the findings."""

from collections.abc import Callable
from pathlib import Path
from textwrap import dedent

import pytest

from chaoskit.audit import audit_templates

SAM_HEADER = "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n"


@pytest.fixture
def audit(tmp_path: Path) -> Callable[..., set[tuple[str, str]]]:
    """Audit a template written from YAML text; return the (rule, key) pairs found."""

    def run(
        body: str, sam: bool = True, files: dict[str, str] | None = None
    ) -> set[tuple[str, str]]:
        for name, text in (files or {}).items():
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(dedent(text))
        template = tmp_path / "template.yaml"
        template.write_text((SAM_HEADER if sam else "") + dedent(body))
        return {(f.rule, f.key) for f in audit_templates([template]).findings}

    return run
