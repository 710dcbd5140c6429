"""Where the lab's files are: the repository, and the root of every run's private directory."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_ROOT = Path("/run/kzlab")  # one private directory per run (keys, configs, logs); never committed
