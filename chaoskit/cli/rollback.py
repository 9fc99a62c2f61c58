"""``chaoskit rollback``: restore what an interrupted or killed run left behind.

Reads the undo journals under ``$CHAOSKIT_HOME/journal`` and replays the
restores of every change not yet restored, newest first, on the target each
change was made on. Prints one line per resource. Exit codes: 0 everything
is restored (or nothing was pending), 2 bad input, 3 a change could not be
restored (run it again once the cause is fixed: restores are idempotent).
"""

import time

import click

from chaoskit.aws import TARGETS
from chaoskit.errors import BadInput, RollbackFailed, SafetyAbort
from chaoskit.undo import changes, mirror, pending_runs, rollback_run
from chaoskit.undo.store import unrestored

__all__ = ["command"]


def _refused(refused: list[str]) -> None:
    if refused:
        raise SafetyAbort(
            f"refused {len(refused)} change(s) mirrored on the target (listed above): "
            "they are not authenticated or not allowed, and nothing was restored from them"
        )


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
    every run. Without --run-id, --all or --expired, list the runs that left
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
    for run_id in targets:
        deadline = time.time() if expired else None
        for row in rollback_run(run_id, configuration, expired_before=deadline):
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
    _refused(refused)
    if failed:
        raise RollbackFailed(
            f"{failed} change(s) could not be restored; fix the cause and run "
            "'chaoskit rollback --all' again"
        )
    click.echo(f"{restored} change(s) restored" if restored else "nothing left to restore")
