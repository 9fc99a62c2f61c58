"""The LocalStack version the plugin's patches were written for is the one installed.

``plugin/patching.py`` imports LocalStack, so it cannot be imported here: its
declared version is read from the source and compared with the pins.
"""

import re
from pathlib import Path

from chaoskit.sandbox import install

PATCHING = Path(install.__file__).with_name("plugin") / "patching.py"
CONSTRAINTS = Path(install.__file__).with_name("constraints.txt")


def _declared() -> str:
    found = re.search(r'^LOCALSTACK_VERSION = "([^"]+)"$', PATCHING.read_text(), re.MULTILINE)
    assert found, f"no LOCALSTACK_VERSION in {PATCHING}"
    return found.group(1)


def test_the_patches_version_is_the_pinned_localstack() -> None:
    pinned = re.search(r"^localstack-core==(\S+)$", CONSTRAINTS.read_text(), re.MULTILINE)
    assert pinned and pinned.group(1) == _declared()
    assert f"localstack-core[runtime]=={_declared()}" in install.REQUIREMENTS
