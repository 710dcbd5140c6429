"""The Vagrantfile is valid and provisions with the same script as the Makefile."""

from __future__ import annotations

import subprocess

import pytest

from tools.basics.paths import REPO


def test_vagrantfile_uses_the_provisioning_script() -> None:
    text = (REPO / "Vagrantfile").read_text()
    assert "tools/setup/provision.sh" in text
    assert "tools/setup/provision.sh" in (REPO / "Makefile").read_text()


@pytest.mark.deb("vagrant")
def test_vagrant_validate() -> None:
    proc = subprocess.run(
        ["vagrant", "validate", "--ignore-provider"], cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Vagrantfile validated successfully" in proc.stdout
