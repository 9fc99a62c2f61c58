"""Score chaoskit's audit and serverless-rules side by side on the labelled corpus.

Prints, per tool: labelled hazards, output lines, hazards found (true positives),
recall, precision on labelled hazards, and the share of output that is noise (not
a labelled hazard: false alarms plus findings about something else). Then the
hazards each tool misses and its false alarms. No AWS call.

    .venv/bin/python benchmarks/audit_corpus.py
"""

import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "audit"))

import scoring


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    hazards, _ = scoring.labels()
    templates = scoring.templates()
    runs = []
    for runner in (scoring.run_chaoskit, scoring.run_serverless_rules):
        started = time.perf_counter()
        run = runner()
        runs.append((run, time.perf_counter() - started))
    print(
        f"corpus: {len(templates)} templates, {len(hazards)} labelled hazards; "
        f"chaoskit {_version('chaoskit')}, cfn-lint {_version('cfn-lint')}, "
        f"cfn-lint-serverless {_version('cfn-lint-serverless')}, "
        f"aws-sam-translator {_version('aws-sam-translator')}"
    )
    header = (
        f"{'tool':<18}{'outputs':>8}{'found':>7}{'recall':>8}{'precision':>11}{'noise':>7}{'s':>7}"
    )
    print(header)
    scores = []
    for run, seconds in runs:
        s = scoring.score(run, hazards)
        scores.append((s, run))
        print(
            f"{s.tool:<18}{s.outputs:>8}{s.true_positives:>7}{s.recall:>8.2f}"
            f"{s.precision:>11.2f}{s.noise_share:>7.2f}{seconds:>7.1f}"
        )
    for s, run in scores:
        print(f"\n{s.tool}: missed {len(s.missed)} by hazard:")
        for hazard, n in Counter(h[1] for h in s.missed).most_common():
            print(f"  {n:>3} {hazard}")
        print(f"{s.tool}: false alarms {len(s.false_positives)}:")
        for f in s.false_positives:
            print(f"  {f[0]}: {f[1]} {f[2]}")
        if run.unmapped:
            print(f"{s.tool}: off-topic output {len(run.unmapped)} by rule:")
            for rule_id, n in Counter(
                u.split(": ", 1)[1].split()[0] for u in run.unmapped
            ).most_common():
                print(f"  {n:>3} {rule_id}")


if __name__ == "__main__":
    main()
