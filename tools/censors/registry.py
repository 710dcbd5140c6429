"""Censors by name, as scenarios refer to them."""

from __future__ import annotations

from tools.censors.base import Censor
from tools.censors.blockpage_http_host import BlockpageForHTTPHost
from tools.censors.drop_server_endpoint import DropTrafficForServerEndpoint
from tools.censors.drop_tls_sni import DropTrafficForTLSSNI
from tools.censors.dummy import Dummy
from tools.censors.reset_tls_sni import ResetTrafficForTLSSNI
from tools.censors.resolver_blocklist import ResolverBlocklist
from tools.censors.spoof_dns import SpoofDNSResponse
from tools.censors.telegram_mtproto import BlockTelegramMTProto
from tools.censors.throttle_tls_sni import ThrottleTrafficForTLSSNI
from tools.gateway.device import NationalInterception

CENSORS: dict[str, type[Censor]] = {
    c.name: c
    for c in (
        Dummy,
        NationalInterception,
        ResolverBlocklist,
        SpoofDNSResponse,
        DropTrafficForServerEndpoint,
        ResetTrafficForTLSSNI,
        DropTrafficForTLSSNI,
        BlockpageForHTTPHost,
        BlockTelegramMTProto,
        ThrottleTrafficForTLSSNI,
    )
}
