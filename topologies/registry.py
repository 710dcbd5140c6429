"""Topologies by name, as scenarios refer to them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from topologies import kz_isp, kz_national
from topologies.model import TopologyError, TopologyModel

TOPOLOGIES: dict[str, Callable[..., TopologyModel]] = {"kz_isp": kz_isp.build, "kz_national": kz_national.build}


def build(name: str, **params: Any) -> TopologyModel:
    """Build the named topology with ``params``; TopologyError names what is wrong."""
    if name not in TOPOLOGIES:
        raise TopologyError(f"unknown topology {name!r} (known: {', '.join(sorted(TOPOLOGIES))})")
    return TOPOLOGIES[name](**params)
