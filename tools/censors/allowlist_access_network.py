"""AllowlistAccessNetwork: an operator's subscribers reach only a list of addresses.

ShutdownAccessNetwork with ``allow`` required: at the operator's router every forwarded
packet to or from its access segments is dropped unless the address beyond is in
``allow`` (include the subscribers' resolver, or names stop resolving).

Models the whitelist of 2022-01-08: only some domestic media and Kaspi's services were
reachable; the exact list is unconfirmed (kazakhstan.md section 4).
"""

from __future__ import annotations

from typing import ClassVar

from tools.basics.params import SOME_PREFIXES
from tools.censors.base import Field
from tools.censors.shutdown_access_network import ShutdownAccessNetwork


class AllowlistAccessNetwork(ShutdownAccessNetwork):
    models = "kazakhstan.md section 4 (from 2022-01-08 only some domestic media and Kaspi; list unconfirmed)"
    probe_sees = "the operator's subscribers: listed sites accessible, the rest tcp_ip generic_timeout_error"
    circumvention = "another operator's network; a tunnel to a listed address"

    fields: ClassVar[dict[str, Field]] = {"allow": Field(SOME_PREFIXES, "the prefixes still reachable (the whitelist)")}
