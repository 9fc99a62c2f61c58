"""Run the ``chaoskit`` command in-process and get its exit status."""

from chaoskit.cli.main import main

__all__ = ["exit_code"]


def exit_code(argv: list[str]) -> int:
    """Run ``chaoskit ARGV`` as the console script does; return its exit status."""
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
