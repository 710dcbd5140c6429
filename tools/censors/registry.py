"""Censors by name, as scenarios refer to them."""

from __future__ import annotations

from tools.censors.base import Censor
from tools.censors.dummy import Dummy
from tools.gateway.device import NationalInterception

CENSORS: dict[str, type[Censor]] = {c.name: c for c in (Dummy, NationalInterception)}
