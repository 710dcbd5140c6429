"""Censors by name, as scenarios refer to them."""

from __future__ import annotations

from tools.censors.access_windows import AccessWindows
from tools.censors.allowlist_access_network import AllowlistAccessNetwork
from tools.censors.base import Censor
from tools.censors.block_tor_relays import BlockTorRelays
from tools.censors.block_traffic_for_mtproto import BlockTrafficForMTProto
from tools.censors.block_traffic_for_mtproto_proxy import BlockTrafficForMTProtoProxy
from tools.censors.block_traffic_for_vpn_protocols import BlockTrafficForVPNProtocols
from tools.censors.blockpage_for_http_host import BlockpageForHTTPHost
from tools.censors.drop_traffic_at_border import DropTrafficAtBorder
from tools.censors.drop_traffic_for_encrypted_dns import DropTrafficForEncryptedDNS
from tools.censors.drop_traffic_for_server_endpoint import DropTrafficForServerEndpoint
from tools.censors.drop_traffic_for_tls_sni import DropTrafficForTLSSNI
from tools.censors.dummy import Dummy
from tools.censors.national_interception import NationalInterception
from tools.censors.reset_traffic_for_tls_sni import ResetTrafficForTLSSNI
from tools.censors.resolver_blocklist import ResolverBlocklist
from tools.censors.shutdown_access_network import ShutdownAccessNetwork
from tools.censors.spoof_dns_response import SpoofDNSResponse
from tools.censors.throttle_access_network import ThrottleAccessNetwork
from tools.censors.throttle_traffic_for_tls_sni import ThrottleTrafficForTLSSNI
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
        BlockTrafficForMTProto,
        BlockTorRelays,
        BlockTrafficForMTProtoProxy,
        ThrottleTrafficForTLSSNI,
        DropTrafficForEncryptedDNS,
        BlockTrafficForVPNProtocols,
        DropTrafficAtBorder,
        WithdrawRoutes,
        ShutdownAccessNetwork,
        AllowlistAccessNetwork,
        ThrottleAccessNetwork,
        AccessWindows,
    )
}
