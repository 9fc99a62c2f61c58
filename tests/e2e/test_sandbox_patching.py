"""The plugin's patches go through LocalStack's reversible Patch and check LocalStack's version.

Runs code in the sandbox venv (where LocalStack is), next to a running sandbox.
"""

import subprocess
import textwrap

from chaoskit.sandbox import install
from chaoskit.sandbox.paths import SandboxPaths


def _run(sandbox_endpoint: str, code: str) -> subprocess.CompletedProcess[str]:
    port = int(sandbox_endpoint.rsplit(":", 1)[1])
    python = install.venv_python(SandboxPaths.for_port(port).venv)
    return subprocess.run(
        [str(python), "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_another_localstack_version_is_refused_naming_both(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        """
        from chaoskit_sandbox_plugin import patching
        patching.check_version(patching.LOCALSTACK_VERSION)  # the installed one passes
        assert patching.installed_version() == patching.LOCALSTACK_VERSION
        try:
            patching.check_version("2099.1.0")
        except patching.UnsupportedLocalStackError as err:
            print(err)
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "2099.1.0" in done.stdout and "2026.3.0" in done.stdout


def test_a_patch_is_applied_and_undone_through_localstacks_helper(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        """
        from chaoskit_sandbox_plugin import patching
        from localstack.utils.patch import Patch

        class Poller:
            def poll(self, n):
                return n

        original = Poller.poll
        patch = patching.wrap(Poller, "poll", lambda orig, self, n: orig(self, n) * 10)
        assert isinstance(patch, Patch)
        patch.apply()
        assert Poller().poll(2) == 20
        patch.undo()
        assert Poller.poll is original and Poller().poll(2) == 2
        try:
            patching.wrap(Poller, "gone", lambda orig, self: None)
        except patching.UnsupportedLocalStackError as err:
            print(err)
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "no Poller.gone to patch" in done.stdout


def test_an_idle_shard_is_read_at_awss_base_rate_and_a_busy_one_at_once(sandbox_endpoint):
    done = _run(
        sandbox_endpoint,
        """
        import time
        from chaoskit_sandbox_plugin import streams

        class KinesisPoller:  # the poller's shape: one shard, reads through get_records
            def __init__(self):
                self.shards = {"shard-1": "iterator"}
                self.reads = 0
                self.records = []

            def _get_records(self, iterator):
                self.reads += 1
                return {"Records": list(self.records), "NextShardIterator": iterator}

            def poll_events_from_shard(self, shard_id, iterator):
                streams.get_records(KinesisPoller._get_records, self, iterator)

        poller = KinesisPoller()
        for _ in range(20):  # LocalStack's worker polls every 0.05 s
            streams.poll_events(lambda self: None, poller)
        assert poller.reads == 1, poller.reads  # idle: once per base interval (1 s)
        time.sleep(streams.BASE_INTERVAL["KinesisPoller"] + 0.05)
        poller.records = [{"SequenceNumber": "1"}]
        for _ in range(5):
            streams.poll_events(lambda self: None, poller)
        assert poller.reads == 6, poller.reads  # records coming: read again at once
        print("ok")
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
