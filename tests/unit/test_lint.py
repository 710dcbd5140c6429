"""`make lint` fails on an import against the layer order and on a type error (issue 10).

A copy of the code is checked as it is (both pass), then with one import going up the
layers (tools/dpi importing tools/lab) and one wrong annotation: each checker names it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.basics.paths import REPO

PACKAGES = ("topologies", "tools", "scenarios", "bench", "labs")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lint")
    for package in PACKAGES:
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    return root


def run(root: Path, *argv: str) -> subprocess.CompletedProcess:
    cache = ["--cache-dir", str(root / ".mypy_cache")] if "mypy" in argv else []
    return subprocess.run(
        [*argv, *cache],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)},
    )


def test_the_code_as_it_is_keeps_the_layers_and_types(copy: Path) -> None:
    layers = run(copy, str(LINT_IMPORTS))
    assert layers.returncode == 0 and "Contracts: 1 kept, 0 broken." in layers.stdout, layers.stdout[-2000:]
    types = run(copy, sys.executable, "-m", "mypy")
    assert types.returncode == 0, types.stdout[-2000:]


def test_an_import_up_the_layers_and_a_type_error_fail(copy: Path) -> None:
    codec = copy / "tools" / "dpi" / "tls.py"
    codec.write_text(codec.read_text() + "\nfrom tools.lab import lab  # noqa: E402,F401\n\nWRONG: int = 'text'\n")
    layers = run(copy, str(LINT_IMPORTS))
    assert layers.returncode != 0
    assert "tools.dpi is not allowed to import tools.lab" in layers.stdout, layers.stdout[-2000:]
    types = run(copy, sys.executable, "-m", "mypy")
    assert types.returncode != 0
    assert "tools/dpi/tls.py" in types.stdout and "Incompatible types in assignment" in types.stdout, types.stdout
