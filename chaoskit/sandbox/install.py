"""Create, once, the virtual environment that runs LocalStack core, and put our plugin in it.

The venv lives in the cache directory, outside any repository. Its contents are
pinned exactly: :data:`REQUIREMENTS` names what we need, ``constraints.txt``
(beside this module) pins every package of a known-good install. A stamp file
keyed by the pin set and the interpreter says the venv is complete; a changed
pin set rebuilds it. The install goes into a temporary folder renamed into place
at the end, so an interrupted install never leaves a venv that looks complete.

Our LocalStack plugin (``chaoskit/sandbox/plugin``) is copied into the venv as
the top-level package ``chaoskit_sandbox_plugin`` with a generated
``.dist-info`` that declares its entry points; it is re-synced whenever its
sources change, without reinstalling anything.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from chaoskit.sandbox.errors import SandboxError

__all__ = [
    "CONSTRAINTS",
    "PLUGIN_DIST",
    "REQUIREMENTS",
    "ensure_legacy_runtime_libs",
    "ensure_venv",
    "pin_key",
    "site_packages",
    "sync_plugin",
    "venv_python",
]

#: What the sandbox venv needs. LocalStack core 2026.3.0 is the last core release;
#: newer releases of these dependencies break it. LocalStack brings ``moto-ext``
#: (its build of moto), which serves DynamoDB in-process: installing ``moto``
#: beside it would overwrite the same ``moto`` package with another version.
REQUIREMENTS: tuple[str, ...] = (
    "localstack-core[runtime]==2026.3.0",
    "cbor2<6",
    "pyopenssl==24.3.0",
    "cryptography>=44,<45",
    "service_identity",
    "joserfc<1.1",
)
#: Exact versions of every package of a known-good install (pip freeze).
CONSTRAINTS = Path(__file__).with_name("constraints.txt")
#: Name of the distribution that carries our plugin inside the venv.
PLUGIN_DIST = "chaoskit_sandbox_plugin"
PLUGIN_SOURCE = Path(__file__).with_name("plugin")
#: Entry points of the plugin: LocalStack finds plugins through these groups.
ENTRY_POINTS = {
    "localstack.lambda.runtime_executor": {
        "chaoskit-process": f"{PLUGIN_DIST}.executor:ProcessExecutorPlugin",
    },
    "localstack.aws.provider": {
        "dynamodb:chaoskit": f"{PLUGIN_DIST}.providers:dynamodb_chaoskit",
        "dynamodbstreams:chaoskit": f"{PLUGIN_DIST}.providers:dynamodbstreams_chaoskit",
        "route53:chaoskit": f"{PLUGIN_DIST}.providers:route53_chaoskit",
    },
    "localstack.cloudformation.resource_providers": {
        "AWS::Route53::HostedZone": f"{PLUGIN_DIST}.cfn_resources:HostedZoneProviderPlugin",
    },
    "localstack.hooks.on_infra_start": {
        "chaoskit_patches": f"{PLUGIN_DIST}.patches:chaoskit_patches",
        "chaoskit_bind_loopback": f"{PLUGIN_DIST}.loopback:chaoskit_bind_loopback",
    },
}
#: Packages Lambda's Python runtime provides; linked for the function processes.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
RUNTIME_LIBS = "chaoskit-lambda-runtime"
#: Functions on Python 3.9 get urllib3 1.26 ahead of the libraries above, as Lambda's
#: python3.9 runtime does: botocore asks for urllib3 < 1.27 there, and urllib3 2.x
#: (what LocalStack needs) does not import on 3.9.
LEGACY_RUNTIME_LIBS = "chaoskit-lambda-runtime-py39"
LEGACY_RUNTIME_PACKAGES = ("urllib3==1.26.20",)
STAMP = ".chaoskit-stamp"
INSTALL_TIMEOUT = 30 * 60

Progress = Callable[[str], None]


def _noop(_: str) -> None:
    pass


def pin_key(python_version: str, requirements: Iterable[str] = REQUIREMENTS) -> str:
    """Return the stamp of a venv built from these pins with this interpreter."""
    pins = [line for line in CONSTRAINTS.read_text().splitlines() if not line.startswith("#")]
    text = "\n".join([python_version, *requirements, *pins])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def venv_python(venv: Path) -> Path:
    """Return the interpreter of ``venv``."""
    return venv / "bin" / "python"


def site_packages(venv: Path) -> Path:
    """Return the site-packages folder of ``venv``."""
    found = sorted((venv / "lib").glob("python3.*/site-packages"))
    if not found:
        raise SandboxError(f"no site-packages folder in the sandbox venv '{venv}'")
    return found[-1]


def _run_pip(python: Path, args: list[str], progress: Progress) -> None:
    cmd = [str(python), "-m", "pip", "install", "--progress-bar", "off", *args]
    started = time.monotonic()
    collected = 0
    tail: list[str] = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-30:], line]
            if line.startswith("Collecting "):
                collected += 1
                if collected % 20 == 1:
                    progress(f"resolving and downloading packages ({collected} so far)...")
            elif line.startswith("Installing collected packages"):
                progress(f"installing {line.count(',') + 1} packages...")
            if time.monotonic() - started > INSTALL_TIMEOUT:
                proc.kill()
                raise SandboxError(f"pip install took longer than {INSTALL_TIMEOUT} s; gave up")
        code = proc.wait()
    if code != 0:
        detail = " | ".join(line for line in tail if "WARNING: Location" not in line)[-800:]
        raise SandboxError(f"pip install into the sandbox venv failed (exit {code}): {detail}")


def ensure_venv(
    python: Path, python_version: str, venv: Path, progress: Progress | None = None
) -> bool:
    """Create the sandbox venv unless a complete one with the same pins exists.

    Returns:
        ``True`` if it installed, ``False`` if the cached venv was reused.
    """
    say = progress or _noop
    key = pin_key(python_version)
    stamp = venv / STAMP
    if venv_python(venv).exists() and stamp.exists() and stamp.read_text().strip() == key:
        return False
    say(f"installing LocalStack core into {venv} (one time, about 3 minutes)")
    started = time.monotonic()
    staging = venv.with_name(venv.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            [str(python), "-m", "venv", str(staging)], check=True, capture_output=True, timeout=300
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise SandboxError(f"could not create a venv with '{python}': {err}") from err
    _run_pip(venv_python(staging), ["--upgrade", "pip"], _noop)
    _run_pip(venv_python(staging), ["-c", str(CONSTRAINTS), *REQUIREMENTS], say)
    (staging / STAMP).write_text(key + "\n")
    shutil.rmtree(venv, ignore_errors=True)
    staging.rename(venv)
    say(f"installed in {time.monotonic() - started:.0f} s")
    return True


def ensure_legacy_runtime_libs(venv: Path, progress: Progress | None = None) -> bool:
    """Install, once, the libraries Python 3.9 functions need beside the runtime's own.

    Returns:
        ``True`` if it installed, ``False`` if they were already there.

    Raises:
        SandboxError: pip could not install them (the sandbox then refuses
            python3.9 functions at create time, naming this folder).
    """
    target = venv / LEGACY_RUNTIME_LIBS
    stamp = target / STAMP
    key = " ".join(LEGACY_RUNTIME_PACKAGES)
    if stamp.exists() and stamp.read_text().strip() == key:
        return False
    (progress or _noop)("installing the libraries python3.9 functions need (one time)")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    args = ["--no-deps", "--only-binary", ":all:", "--target", str(staging)]
    _run_pip(venv_python(venv), [*args, *LEGACY_RUNTIME_PACKAGES], _noop)
    (staging / STAMP).write_text(key + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return True


#: Files of the chaoskit package copied into the plugin, under another name: the bootstraps
#: load handlers with the layer's own loaders (Lambda's rules, in one place per language).
PLUGIN_EXTRAS = {
    "node_loader.mjs": Path(__file__).parent.parent / "layer" / "node" / "loader.mjs",
    "user_handler.py": Path(__file__).parent.parent / "layer" / "userhandler.py",
}


def _plugin_files() -> list[Path]:
    return sorted(p for p in PLUGIN_SOURCE.iterdir() if p.suffix in (".py", ".mjs"))


def _all_plugin_files() -> list[tuple[Path, str]]:
    files = [(path, path.name) for path in _plugin_files()]
    return files + [(source, name) for name, source in sorted(PLUGIN_EXTRAS.items())]


def plugin_hash() -> str:
    """Return a hash of the plugin's sources (a changed plugin is re-synced)."""
    digest = hashlib.sha256()
    for path, name in _all_plugin_files():
        digest.update(name.encode() + b"\0" + path.read_bytes())
    digest.update(json.dumps(ENTRY_POINTS, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _entry_points_txt() -> str:
    lines: list[str] = []
    for group, entries in ENTRY_POINTS.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
        lines.append("")
    return "\n".join(lines)


def sync_plugin(venv: Path) -> bool:
    """Install or refresh our plugin package and the Lambda runtime libraries in ``venv``.

    Returns:
        ``True`` if anything was written.
    """
    site = site_packages(venv)
    version = plugin_hash()
    dist_info = site / f"{PLUGIN_DIST}-0+{version}.dist-info"
    if dist_info.is_dir():
        return False
    for old in site.glob(f"{PLUGIN_DIST}-*.dist-info"):
        shutil.rmtree(old)
    package = site / PLUGIN_DIST
    shutil.rmtree(package, ignore_errors=True)
    package.mkdir()
    for path, name in _all_plugin_files():
        shutil.copy2(path, package / name)
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {PLUGIN_DIST}\nVersion: 0+{version}\n"
        "Summary: chaoskit's LocalStack plugins (generated by chaoskit sandbox)\n"
    )
    (dist_info / "entry_points.txt").write_text(_entry_points_txt())
    (dist_info / "INSTALLER").write_text("chaoskit\n")
    records = [f"{PLUGIN_DIST}/{name},," for _, name in _all_plugin_files()]
    records += [f"{dist_info.name}/{n},," for n in ("METADATA", "entry_points.txt", "INSTALLER")]
    records.append(f"{dist_info.name}/RECORD,,")
    (dist_info / "RECORD").write_text("\n".join(records) + "\n")
    _link_runtime_libs(venv, site)
    _drop_plux_cache(venv)
    return True


def _link_runtime_libs(venv: Path, site: Path) -> None:
    libs = venv / RUNTIME_LIBS
    shutil.rmtree(libs, ignore_errors=True)
    libs.mkdir()
    for name in RUNTIME_PACKAGES:
        if (site / name).exists():
            (libs / name).symlink_to(site / name)


def _drop_plux_cache(venv: Path) -> None:
    # plux may cache the entry-point index; a stale one would hide our plugin.
    for cached in venv.rglob("plux*.cache"):
        if cached.is_file():
            cached.unlink()


def python_version_of(python: Path) -> str:
    """Return the full version string of ``python`` (part of the stamp)."""
    out = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return out.stdout.strip() or sys.version.split()[0]
