"""Where the lab's MTProto proxy keeps its ``tg://proxy`` link (tools/dpi/faketls.ProxyLink).

The proxy makes its secret when the lab starts and writes its link into the run's
private directory (never into the repository); the method reads it from there.
"""

from __future__ import annotations

from pathlib import Path


def link_file(rundir: Path) -> Path:
    """Where the lab's proxy keeps its link in the run's private directory."""
    return rundir / "mtproxy" / "proxy.link"
