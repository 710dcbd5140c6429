"""Platform gaps: the one list of missing debs, the README naming it, and skips turned into failures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import platform_gaps
from tools.basics.paths import REPO

pytest_plugins = ["pytester"]

UBUNTU_24 = 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n'
NOT_A_DEB = "kzlab-no-such-deb"


def test_gaps_file() -> None:
    gaps = platform_gaps.read_gaps(platform_gaps.GAPS.read_text())
    assert gaps["ubuntu 24.04"] == {"chromium", "vagrant"}
    assert "debian 12" not in gaps  # Debian 12 has both: chromium 156, vagrant 2.3.4


def test_platform_from_os_release() -> None:
    assert platform_gaps.platform(UBUNTU_24) == "ubuntu 24.04"
    assert platform_gaps.platform('ID=debian\nVERSION_ID="12"\n') == "debian 12"
    assert platform_gaps.skip_reason("chromium", "ubuntu 24.04").startswith("Ubuntu 24.04 has no chromium deb")


def test_readme_names_every_gap() -> None:
    """Each platform gap is named in one README paragraph: the platform and the package."""
    paragraphs = re.split(r"\n\s*\n", (REPO / "README.md").read_text())
    for where, packages in platform_gaps.read_gaps(platform_gaps.GAPS.read_text()).items():
        name = platform_gaps.shown(where)
        for package in packages:
            assert any(name in p and package in p for p in paragraphs), f"README: {name} lacks {package}"


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.Pytester:
    """A pytest run with the suite's own conftest, on a fake Ubuntu 24.04 that lacks one more deb."""
    (tmp_path / "os-release").write_text(UBUNTU_24)
    (tmp_path / "gaps").write_text(platform_gaps.GAPS.read_text() + f"ubuntu 24.04 {NOT_A_DEB}\n")
    monkeypatch.setattr(platform_gaps, "OS_RELEASE", tmp_path / "os-release")
    monkeypatch.setattr(platform_gaps, "GAPS", tmp_path / "gaps")
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    return pytester


def test_unexpected_skips_fail(inner: pytest.Pytester) -> None:
    reason = platform_gaps.skip_reason(NOT_A_DEB, "ubuntu 24.04")
    inner.makepyfile(
        f"""
        import pytest

        def test_plain_skip():
            pytest.skip("not available on this system")

        @pytest.mark.skipif(True, reason="vagrant is not packaged on this system")
        def test_skipif():
            pass

        def test_gap_skip():
            pytest.skip({reason!r})

        def test_other_platforms_gap():
            pytest.skip({platform_gaps.skip_reason(NOT_A_DEB, "ubuntu 22.04")!r})
        """
    )
    result = inner.runpytest_inprocess("-rA")
    result.assert_outcomes(passed=0, failed=2, errors=1, skipped=1)
    result.stdout.fnmatch_lines(["*unexpected skip on ubuntu 24.04: not available on this system*"])


def test_a_missing_deb_skips_only_where_the_platform_lacks_it(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    inner.makepyfile(
        f"""
        import pytest

        @pytest.mark.deb({NOT_A_DEB!r})
        def test_needs_it():
            pass

        @pytest.mark.deb("dpkg")
        def test_needs_what_is_installed():
            pass
        """
    )
    inner.runpytest_inprocess().assert_outcomes(passed=1, skipped=1)
    (tmp_path / "os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    result = inner.runpytest_inprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*{NOT_A_DEB} is not installed, and debian 12 packages it as a deb*"])
