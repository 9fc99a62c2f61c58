"""Journals for the report tests: a real plain chaostoolkit journal and a chaoskit one."""

import copy
import time
from typing import Any

import pytest
from chaoslib.experiment import run_experiment

PLAIN_EXPERIMENT = {
    "title": "plain chaostoolkit experiment",
    "description": "No chaoskit at all.",
    "steady-state-hypothesis": {
        "title": "root is a folder",
        "probes": [
            {
                "type": "probe",
                "name": "root-is-dir",
                "tolerance": True,
                "provider": {
                    "type": "python",
                    "module": "os.path",
                    "func": "isdir",
                    "arguments": {"s": "/"},
                },
            }
        ],
    },
    "method": [
        {
            "type": "action",
            "name": "basename",
            "provider": {
                "type": "python",
                "module": "os.path",
                "func": "basename",
                "arguments": {"p": "/a/b"},
            },
        }
    ],
}


@pytest.fixture(scope="session")
def plain_journal() -> dict[str, Any]:
    """A journal produced by chaoslib itself, with no ``chaoskit`` member."""
    return dict(run_experiment(copy.deepcopy(PLAIN_EXPERIMENT)))


@pytest.fixture
def chaoskit_journal(plain_journal: dict[str, Any]) -> dict[str, Any]:
    """The plain journal plus a chaoskit extension with a ledger, timeline and transitions."""
    journal = copy.deepcopy(plain_journal)
    journal["experiment"]["title"] = "kill switch <worker>"
    journal["deviated"] = True
    journal["steady_states"]["after"]["steady_state_met"] = False
    journal["steady_states"]["after"]["probes"][0]["tolerance_met"] = False
    journal["steady_states"]["after"]["probes"][0]["output"] = {"lost": 3}
    t0 = 1_700_000_000.0
    journal["chaoskit"] = {
        "run_id": "r-42",
        "target": "sandbox",
        "ledger": {
            "sent": 50,
            "processed": 45,
            "dead_lettered": 2,
            "lost": 3,
            "lost_ids": ["e1", "e2", "e3"],
            "duplicates": 1,
        },
        "timeline": [
            {
                "t": t0 + i,
                "sent": min(50, 10 * i),
                "processed": max(0, 9 * i - 20),
                "dead_lettered": 2 if i > 4 else 0,
                "lost": 0,
            }
            for i in range(8)
        ],
        "fault_windows": [{"start": t0 + 1, "end": t0 + 4, "label": "concurrency 0 on worker"}],
        "changes": [
            {
                "action": "set_reserved_concurrency",
                "resource": "orders-worker",
                "applied_at": t0 + 1,
                "restored_at": t0 + 4,
                "status": "restored",
            },
            {
                "action": "inject_latency",
                "resource": "orders-api",
                "applied_at": t0 + 2,
                "restored_at": None,
                "status": "failed",
            },
        ],
        "breaker": [{"t": t0 + 2, "from": "closed", "to": "open", "source": "payments"}],
        "failover": [{"t": t0 + 3, "name": "dns answers secondary", "output": {"answer": "b"}}],
    }
    journal["end"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t0 + 9))
    return journal
