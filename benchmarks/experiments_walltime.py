"""Wall time of every experiment of the library against the reference app on the sandbox.

Brings the sandbox up (with its test speed knobs), deploys the reference app,
runs each experiment once and prints one line per experiment (outcome, wall
time, events sent / processed / dead-lettered / lost) and the total. One run,
no assertions: the figures go in docs/experiments.md.

    .venv/bin/python benchmarks/experiments_walltime.py [--port 4610] [--variant broken]
        [--only latency,errors] [--json out.json]
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chaoskit import sandbox  # noqa: E402
from chaoskit.cli.demo import load_app_deploy  # noqa: E402
from chaoskit.gameday.spec import load_gameday  # noqa: E402
from chaoskit.runner import run_experiment_file  # noqa: E402

#: The library, in the example game day's order (one list for the benchmark, tests and demo).
APP = load_app_deploy(ROOT / "experiments" / "app")
LIBRARY = [e.path.stem for e in load_gameday(ROOT / "experiments" / "gameday.yaml").experiments]


def _settled(journal: dict[str, Any]) -> dict[str, Any]:
    outputs = [
        r.get("output")
        for r in journal.get("run", [])
        if r["activity"]["provider"].get("func") == "wait_until_settled"
    ]
    return outputs[-1] if outputs and isinstance(outputs[-1], dict) else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--variant", choices=["good", "broken"], default="good")
    parser.add_argument("--only", default="", help="comma-separated experiment names")
    parser.add_argument("--json", dest="json_out", help="also write the figures as JSON here")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or LIBRARY

    start = time.monotonic()
    endpoint = sandbox.ensure_up(args.port, progress=print, options=sandbox.FAST, timeout=300)
    up_s = time.monotonic() - start
    config = {"chaoskit_target": "sandbox", "chaoskit_sandbox_port": args.port}
    start = time.monotonic()
    deployed = APP.deploy(config, variant=args.variant)
    deploy_s = time.monotonic() - start
    variables = APP.experiment_vars(deployed)
    print(f"sandbox {endpoint}: up {up_s:.1f} s, deploy ({args.variant}) {deploy_s:.1f} s")
    header = ("experiment", "outcome", "wall s", "sent", "proc", "dlq", "lost")
    print("{:<26} {:<10} {:>7} {:>5} {:>5} {:>4} {:>5}".format(*header))
    rows = []
    total = time.monotonic()
    for name in names:
        t0 = time.monotonic()
        result = run_experiment_file(
            ROOT / "experiments" / f"{name}.yaml",
            target="sandbox",
            variables={**config, **variables},
        )
        wall = time.monotonic() - t0
        s = _settled(result.journal)
        row = {
            "experiment": name,
            "outcome": result.view.outcome,
            "wall_s": round(wall, 1),
            **{k: s.get(k) for k in ("sent", "processed", "dead_lettered", "lost")},
        }
        rows.append(row)
        print(
            f"{name:<26} {row['outcome']:<10} {wall:>7.1f} {s.get('sent', '-'):>5} "
            f"{s.get('processed', '-'):>5} {s.get('dead_lettered', '-'):>4} {s.get('lost', '-'):>5}"
        )
    total_s = time.monotonic() - total
    print(f"{'total':<26} {'':<10} {total_s:>7.1f}")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {"variant": args.variant, "deploy_s": deploy_s, "total_s": total_s, "rows": rows},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
