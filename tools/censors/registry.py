"""Censors by name, as scenarios refer to them."""

from __future__ import annotations

from tools.censors.access_windows import AccessWindows
from tools.censors.allowlist_access import AllowlistAccessNetwork
from tools.censors.base import Censor
from tools.censors.blockpage_http_host import BlockpageForHTTPHost
from tools.censors.drop_at_border import DropTrafficAtBorder
from tools.censors.drop_server_endpoint import DropTrafficForServerEndpoint
from tools.censors.drop_tls_sni import DropTrafficForTLSSNI
from tools.censors.dummy import Dummy
from tools.censors.national_interception import NationalInterception
from tools.censors.reset_tls_sni import ResetTrafficForTLSSNI
from tools.censors.resolver_blocklist import ResolverBlocklist
from tools.censors.shutdown_access import ShutdownAccessNetwork
from tools.censors.spoof_dns import SpoofDNSResponse
from tools.censors.telegram_mtproto import BlockTelegramMTProto
from tools.censors.throttle_access import ThrottleAccessNetwork
from tools.censors.throttle_tls_sni import ThrottleTrafficForTLSSNI
from tools.censors.withdraw_routes import WithdrawRoutes

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
        DropTrafficAtBorder,
        WithdrawRoutes,
        ShutdownAccessNetwork,
        AllowlistAccessNetwork,
        ThrottleAccessNetwork,
        AccessWindows,
    )
}
