"""chaoskit's pytest plugin (registered through the ``pytest11`` entry point).

Run chaos experiments as tests, in CI, with ``--junitxml`` reports like any
other test:

- ``--chaoskit-target sandbox|localstack|aws`` (or ``CHAOSKIT_TARGET``) picks
  the target; ``--chaoskit-endpoint-url`` (or LocalStack's own ``LOCALSTACK_HOST``
  / ``EDGE_PORT`` conventions) points at an emulator; ``--chaoskit-var KEY=VALUE``
  adds configuration.
- The ``chaoskit_configuration`` fixture is that configuration (for probes and
  setup code); ``chaoskit_experiment`` runs an experiment file and fails the
  test, with the run summary (events sent, processed, dead-lettered, lost, lost
  ids, faults applied and restored) as the message, unless the hypothesis held.
- :func:`experiments_in` parametrizes a test over a folder of experiments; or
  ``pytest --chaoskit-collect experiments/`` collects every experiment file
  there as a test item of its own.

Example::

    import pytest
    from chaoskit.pytest_plugin import experiments_in

    @pytest.mark.parametrize("path", experiments_in("experiments"))
    def test_experiment_holds(chaoskit_experiment, path):
        chaoskit_experiment(path)
"""

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaoskit import envvars
from chaoskit.aws import TARGETS

__all__ = [
    "ExperimentFailed",
    "ExperimentItem",
    "chaoskit_configuration",
    "chaoskit_experiment",
    "experiments_in",
    "pytest_addoption",
    "pytest_collect_file",
    "pytest_configure",
    "run_and_check",
]

#: Experiment file suffixes.
SUFFIXES = (".yaml", ".yml", ".json")


class ExperimentFailed(AssertionError):
    """An experiment did not end as expected; the message is the run summary."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaoskit")
    group.addoption(
        "--chaoskit-target",
        choices=TARGETS,
        default=None,
        help="target of chaoskit experiments: sandbox (default), localstack or aws",
    )
    group.addoption(
        "--chaoskit-endpoint-url",
        default=None,
        help="explicit endpoint for every AWS service (e.g. a LocalStack URL)",
    )
    group.addoption(
        "--chaoskit-var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="configuration given to every experiment (repeatable)",
    )
    group.addoption(
        "--chaoskit-collect",
        action="store_true",
        default=False,
        help="collect experiment files (YAML/JSON with a 'method') as test items",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaoskit_experiment(path): an experiment this test runs (informational)"
    )


def _configuration(config: pytest.Config) -> dict[str, Any]:
    from chaoskit.runner import parse_vars

    target = config.getoption("--chaoskit-target") or os.environ.get(envvars.TARGET) or "sandbox"
    out: dict[str, Any] = {"chaoskit_target": target}
    endpoint = config.getoption("--chaoskit-endpoint-url")
    if endpoint:
        out["chaoskit_endpoint_url"] = endpoint
    out.update(parse_vars(config.getoption("--chaoskit-var") or []))
    return out


@pytest.fixture(scope="session")
def chaoskit_configuration(pytestconfig: pytest.Config) -> dict[str, Any]:
    """Return the Chaos Toolkit configuration for the selected target."""
    return _configuration(pytestconfig)


def experiments_in(folder: str | os.PathLike[str], pattern: str = "*") -> list[Any]:
    """Return one ``pytest.param`` per experiment file in ``folder``, id'd by file name.

    Files that are not experiments (no ``method``, e.g. a game day file) are left out.
    """
    params = []
    for path in sorted(Path(folder).glob(pattern)):
        if path.suffix in SUFFIXES and _is_experiment(path):
            params.append(pytest.param(path, id=path.stem))
    return params


def _is_experiment(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and "method" in data and "title" in data


def run_and_check(
    path: str | os.PathLike[str],
    configuration: Mapping[str, Any],
    variables: Mapping[str, Any] | None = None,
    expect: str = "held",
    journal_path: str | os.PathLike[str] | None = None,
) -> Any:
    """Run an experiment file and raise :class:`ExperimentFailed` unless it ended as expected.

    Args:
        path: the experiment file.
        configuration: target configuration (``chaoskit_target``, endpoint, vars).
        variables: more configuration for this run (beats ``configuration``).
        expect: ``held`` (the hypothesis held and the run completed) or
            ``deviated`` (the hypothesis deviated, e.g. on a broken app).
        journal_path: where to write the journal.

    Returns:
        The :class:`chaoskit.runner.RunResult`.
    """
    from chaoskit.runner import run_experiment_file

    if expect not in ("held", "deviated"):
        raise ValueError(f"invalid expect '{expect}': expected 'held' or 'deviated'")
    merged = {k: v for k, v in configuration.items() if k not in ("chaoskit_target",)}
    merged.update(variables or {})
    endpoint = merged.pop("chaoskit_endpoint_url", None)
    result = run_experiment_file(
        path,
        target=configuration.get("chaoskit_target"),
        endpoint_url=endpoint,
        variables=merged,
        journal_path=journal_path,
    )
    outcome = result.view.outcome
    if expect == "held" and not result.view.ok:
        raise ExperimentFailed(f"experiment {outcome}, expected it to hold:\n{result.summary()}")
    if expect == "deviated" and outcome != "deviated":
        raise ExperimentFailed(f"experiment {outcome}, expected it to deviate:\n{result.summary()}")
    if result.view.unrestored:
        raise ExperimentFailed(f"changes left unrestored:\n{result.summary()}")
    return result


@pytest.fixture
def chaoskit_experiment(
    chaoskit_configuration: dict[str, Any], tmp_path: Path
) -> Callable[..., Any]:
    """Return ``run(path, variables=None, expect="held")``: run an experiment and check it.

    The test fails with the run summary when the experiment does not end as
    expected; the journal is written under the test's ``tmp_path``.
    """

    def run(
        path: str | os.PathLike[str],
        variables: Mapping[str, Any] | None = None,
        expect: str = "held",
    ) -> Any:
        journal = tmp_path / f"{Path(path).stem}-journal.json"
        try:
            return run_and_check(path, chaoskit_configuration, variables, expect, journal)
        except ExperimentFailed as err:
            message = str(err)
        pytest.fail(message, pytrace=False)  # outside the handler: no chained traceback

    return run


class ExperimentItem(pytest.Item):
    """One experiment file run as a test (``--chaoskit-collect``)."""

    def runtest(self) -> None:
        run_and_check(self.path, _configuration(self.config))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ExperimentFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"experiment: {self.name}"


class ExperimentFile(pytest.File):
    """An experiment file: collects one :class:`ExperimentItem`."""

    def collect(self) -> Iterator[ExperimentItem]:
        yield ExperimentItem.from_parent(self, name=self.path.stem)


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> ExperimentFile | None:
    if not parent.config.getoption("--chaoskit-collect"):
        return None
    if file_path.suffix not in SUFFIXES or not _is_experiment(file_path):
        return None
    result: ExperimentFile = ExperimentFile.from_parent(parent, path=file_path)
    return result
