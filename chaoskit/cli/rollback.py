"""``chaoskit rollback``: restore what an interrupted or killed run left behind.

Reads the undo journals under ``$CHAOSKIT_HOME/journal`` and replays the
restores of every change not yet restored, newest first, on the target each
change was made on. Prints one line per resource. Exit codes: 0 everything
is restored (or nothing was pending), 2 bad input, 3 a change could not be
restored (run it again once the cause is fixed: restores are idempotent).
"""

import os
import time

import click

from chaoskit.aws import TARGETS
from chaoskit.envvars import SANDBOX_PORT, TARGET
from chaoskit.errors import BadInput, RollbackFailed, SafetyAbort
from chaoskit.undo import changes, mirror, pending_runs, rollback_run
from chaoskit.undo.overdue import scan_targets
from chaoskit.undo.restore import target_of
from chaoskit.undo.store import unrestored

__all__ = ["command"]


def _refused(refused: list[str]) -> None:
    if refused:
        raise SafetyAbort(
            f"refused {len(refused)} change(s) mirrored on the target (listed above): "
            "they are not authenticated or not allowed, and nothing was restored from them"
        )


def _scanned(override: dict, tried: list[dict]) -> list[dict]:
    """The targets to read for overdue tags: the one named (options or environment),
    each one a change was just restored on, and the default one when neither applies."""
    named = bool(override) or any(os.environ.get(v) for v in (TARGET, SANDBOX_PORT))
    return [override, *tried] if named or not tried else tried


def _report_overdue(where: list[dict]) -> int:
    """Read the targets for resources still tagged past their deadline; return how many
    of them (and unreadable targets) this machine cannot restore."""
    problems = 0
    for row in scan_targets(where):
        if row["status"] == "unreadable":
            problems += 1
            click.echo(
                f"COULD NOT READ {row['target']} for overdue changes: {row['error']}", err=True
            )
        elif not row["journaled"]:
            problems += 1
            click.echo(
                f"OVERDUE {row['kind']} {row['arn']} on {row['target']}: chaoskit:expires-at "
                f"{row['chaoskit:expires-at']} (run {row['chaoskit:run-id']}) is past and no "
                "journal on this machine holds the change: it cannot be restored from here",
                err=True,
            )
    return problems


@click.command("rollback")
@click.option("--run-id", "run_ids", multiple=True, metavar="ID", help="Restore this run.")
@click.option("--all", "all_runs", is_flag=True, help="Restore every run with pending changes.")
@click.option("--target", type=click.Choice(TARGETS), help="Override the recorded target.")
@click.option("--endpoint-url", help="Override the recorded endpoint (e.g. a moved sandbox).")
@click.option(
    "--expired",
    is_flag=True,
    help="Only restore changes past their deadline (expires_at), of every run.",
)
@click.option("--region", help="Override the recorded region (journals that recorded none).")
@click.option(
    "--from-target",
    is_flag=True,
    help="First copy the journal mirrored on the target (chaoskit_journal_mirror).",
)
def command(
    run_ids: tuple[str, ...],
    all_runs: bool,
    target: str | None,
    endpoint_url: str | None,
    region: str | None,
    from_target: bool,
    expired: bool,
) -> None:
    """Restore the changes of a run (--run-id) or of every run (--all) that were not undone.

    Each change is restored on the target it was made on (endpoint, region,
    profile, role and, on AWS, account, as journaled), whatever the current
    environment says, unless --target, --endpoint-url or --region say
    otherwise; on AWS a change is refused (exit 3) when the credentials at
    hand reach another account. --from-target first copies the changes
    mirrored on the target into the local journal (a run whose machine died).
    --expired restores only the changes past their deadline (expires_at), of
    every run, then reads the targets (the one the options or CHAOSKIT_TARGET
    name, each one a change was restored on, and the default target when there
    is neither) for resources still tagged chaoskit:expires-at in the past:
    those no journal here holds are listed and the command exits 3, as it does
    when a target cannot be read. Without --run-id, --all or --expired, list the runs that left
    changes behind.
    """
    pairs = (
        ("chaoskit_target", target),
        ("chaoskit_endpoint_url", endpoint_url),
        ("aws_region", region),
    )
    override = {k: v for k, v in pairs if v}
    configuration = {"chaoskit_target_override": override} if override else None
    refused: list[str] = []
    if from_target:
        copied, refused = mirror.pull_checked(override)
        for run_id, count in sorted(copied.items()):
            click.echo(f"copied {count} change(s) of run {run_id} from the target")
        for line in refused:
            click.echo(f"REFUSED mirrored change {line}", err=True)
    if run_ids and all_runs:
        raise BadInput("give --run-id or --all, not both")
    if expired and not run_ids:
        all_runs = True
    if not run_ids and not all_runs:
        _refused(refused)
        pending = pending_runs()
        if not pending:
            click.echo("nothing to restore: every recorded change is restored")
            return
        for run_id in pending:
            live = unrestored(run_id)
            names = ", ".join(sorted({f"{c['action']} {c['resource']}" for c in live}))
            click.echo(f"{run_id}: {len(live)} change(s) not restored ({names})")
        click.echo("restore them with: chaoskit rollback --all")
        return
    targets = list(run_ids) if run_ids else pending_runs()
    for run_id in run_ids:
        if not changes(run_id):
            raise BadInput(
                f"no journal for run '{run_id}': see 'chaoskit rollback' for pending runs"
            )
    failed = 0
    restored = 0
    tried: list[dict] = []
    for run_id in targets:
        deadline = time.time() if expired else None
        rows = rollback_run(run_id, configuration, expired_before=deadline)
        ids = {row["id"] for row in rows}
        tried += [target_of(c, configuration) for c in changes(run_id) if c.get("id") in ids]
        for row in rows:
            if row["status"] == "restored":
                restored += 1
                click.echo(f"restored {row['action']} on {row['resource']} (run {run_id})")
            else:
                failed += 1
                click.echo(
                    f"NOT restored {row['action']} on {row['resource']} (run {run_id}): "
                    f"{row.get('error')}",
                    err=True,
                )
    untracked = _report_overdue(_scanned(override, tried)) if expired else 0
    _refused(refused)
    if failed:
        raise RollbackFailed(
            f"{failed} change(s) could not be restored; fix the cause and run "
            "'chaoskit rollback --all' again"
        )
    if untracked:
        raise RollbackFailed(
            f"{untracked} resource(s) carry an overdue chaoskit:expires-at tag (listed above) "
            "that no journal on this machine holds, or the target could not be read: "
            "chaoskit cannot restore them from here; restore them by hand, or run "
            "'chaoskit rollback --expired' where their run's journal is "
            "(or with --from-target if the run mirrored it)"
        )
    click.echo(f"{restored} change(s) restored" if restored else "nothing left to restore")
