"""The only skips the suite allows: a package this platform has no deb for.

``tools/setup/platform-gaps`` is the one list of them (provisioning reads it too): a test
marked ``@pytest.mark.deb("chromium")`` skips where the platform lacks that deb and fails
everywhere else when it is not installed, and tests/conftest.py turns every other skip
into a failure, so a green suite cannot hide a missing install step.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tools.basics.paths import REPO

GAPS = REPO / "tools" / "setup" / "platform-gaps"
OS_RELEASE = Path("/etc/os-release")


def read_gaps(text: str) -> dict[str, set[str]]:
    """Platform ("ubuntu 24.04", os-release ID and VERSION_ID) -> the debs it lacks."""
    gaps: dict[str, set[str]] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            gaps.setdefault(" ".join(words[:2]), set()).update(words[2:])
    return gaps


def os_release(text: str) -> dict[str, str]:
    """An os-release file's fields, unquoted."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip().strip("\"'") for key, value in pairs}


def platform(text: str) -> str:
    """ "ID VERSION_ID" of an os-release file's text, as the gaps file names platforms."""
    fields = os_release(text)
    return f"{fields.get('ID', '')} {fields.get('VERSION_ID', '')}"


def this_platform() -> str:
    return platform(OS_RELEASE.read_text())


def shown(where: str) -> str:
    """A platform as the README names it: "ubuntu 24.04" -> "Ubuntu 24.04"."""
    return where[:1].upper() + where[1:]


def skip_reason(package: str, where: str) -> str:
    """The reason a test gives when it skips for a gap, naming the platform as the README does."""
    return f"{shown(where)} has no {package} deb (tools/setup/platform-gaps; README)"


def skip_allowed(reason: str) -> bool:
    """Whether a skip's reason is a gap of this platform, the only skip the suite allows."""
    where = this_platform()
    return reason in {skip_reason(package, where) for package in read_gaps(GAPS.read_text()).get(where, set())}


def deb_installed(package: str) -> bool:
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False
    ).stdout
    return status.endswith(" ok installed")


def require_deb(package: str) -> None:
    """Skip if this platform lacks the deb (a listed gap), fail if it is just not installed."""
    if deb_installed(package):
        return
    where = this_platform()
    if package in read_gaps(GAPS.read_text()).get(where, set()):
        pytest.skip(skip_reason(package, where))
    pytest.fail(f"{package} is not installed, and {where} packages it as a deb: provisioning must install it")
