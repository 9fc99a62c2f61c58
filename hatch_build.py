"""Build hook: ship ``top_level.txt`` in the wheel's metadata, editable wheels included.

``chaos discover chaoskit`` maps the distribution to its import packages with
``importlib.metadata.packages_distributions()``, which reads ``top_level.txt``
or infers the packages from the installed files. An editable install's files
are only a ``.pth`` file, so without ``top_level.txt`` nothing maps to
chaoskit and discovery fails.
"""

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

TOP_LEVEL = ("chaoskit", "probes")


class TopLevelHook(BuildHookInterface):  # type: ignore[misc]
    """Add ``<name>-<version>.dist-info/top_level.txt`` to standard and editable wheels."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        self._folder = folder = Path(tempfile.mkdtemp(prefix="chaoskit-build-"))
        source = folder / "top_level.txt"
        source.write_text("".join(f"{name}\n" for name in TOP_LEVEL), encoding="utf-8")
        name = self.metadata.name.replace("-", "_")
        target = f"{name}-{self.metadata.version}.dist-info/top_level.txt"
        key = "force_include_editable" if version == "editable" else "force_include"
        build_data[key][str(source)] = target

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the file's folder: the wheel holds it now."""
        folder = getattr(self, "_folder", None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
