"""The torrc of each tor in the lab: authorities, relays, the exit, the obfs4 bridge and
the subscribers' clients.

Every one sets ``TestingTorNetwork 1`` with the network's own DirAuthority lines, as
Tor's test networks (chutney) do: it allows a private set of authorities, drops the
rule that a circuit's relays come from distinct /16s (the lab's relays share one /24),
and shortens tor's waits. The authorities vote every few seconds (the first consensus
every 5 s until one exists) and vote every relay Guard and Exit-capable whatever its
uptime or bandwidth (TestingDirAuthVote*); every relay assumes its ORPort reachable
(AssumeReachable) and publishes its descriptor at once instead of first testing itself
through a circuit, so a consensus listing all of them exists seconds after they start;
and the exit takes streams from relays its own consensus does not list yet
(RefuseUnknownExits 0), since in so young a network a client may hold a consensus
before the exit does.
"""

from __future__ import annotations

from pathlib import Path

from tools.circumvent.tor.network import Relay

FIRST_VOTING_INTERVAL = 5  # seconds, until a consensus exists; tor's minimum (2 + 2 + 1)
VOTING_INTERVAL = 10  # seconds, afterwards (must divide a day)
DELAY = 2  # seconds for votes, then for signatures (tor's minimum in a testing network)


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def common(datadir: Path, authorities: list[str]) -> str:
    """What every tor of the lab shares: the testing network and its authorities."""
    return _lines(
        "TestingTorNetwork 1",
        f"DataDirectory {datadir}",
        "RunAsDaemon 0",
        "Log notice stdout",
        "SafeLogging 0",
        "PathsNeededToBuildCircuits 0.67",  # 2 of the 3 descriptors a circuit needs
        *authorities,
    )


def server(datadir: Path, authorities: list[str], nickname: str, resolv_conf: Path) -> str:
    """What the relays and the bridge share."""
    return common(datadir, authorities) + _lines(
        f"Nickname {nickname}",
        f"ContactInfo {nickname} <tor@kzlab.invalid>",
        "SocksPort 0",
        "AssumeReachable 1",
        # Names are resolved (by the exit, for its clients) with the resolver the
        # operator set up, never with hijacking tests against names outside the lab.
        f"ServerDNSResolvConfFile {resolv_conf}",
        "ServerDNSDetectHijacking 0",
        "ServerDNSTestAddresses",
    )


def relay(datadir: Path, authorities: list[str], me: Relay, resolv_conf: Path) -> str:
    """A relay of the network (an authority, a guard or middle, the exit), on its own
    address."""
    text = server(datadir, authorities, me.nickname, resolv_conf) + _lines(
        f"Address {me.address}",
        f"ORPort {me.address}:{me.orport}",
        f"DirPort {me.address}:{me.dirport}",
        f"OutboundBindAddress {me.address}",  # its connections come from its own address
    )
    if me.role == "exit":
        # Every address of the sealed lab is public, so the default refusal of private
        # addresses changes nothing; accept everything. An exit refuses streams whose
        # circuit comes from a relay its consensus does not list; in a network seconds
        # old the exit may hold no consensus yet while a client already built circuits
        # from one (seen: "Attempt by 185.220.101.3 ... to open a stream from unknown
        # relay. Closing.", and the client gave up on the address after three tries), so
        # this exit takes streams from any relay.
        text += _lines("ExitRelay 1", "ExitPolicy accept *:*", "RefuseUnknownExits 0")
    else:
        text += _lines("ExitRelay 0", "ExitPolicy reject *:*")
    if me.role == "authority":
        text += _lines(
            "AuthoritativeDirectory 1",
            "V3AuthoritativeDirectory 1",
            f"TestingV3AuthInitialVotingInterval {FIRST_VOTING_INTERVAL}",
            f"TestingV3AuthInitialVoteDelay {DELAY}",
            f"TestingV3AuthInitialDistDelay {DELAY}",
            f"V3AuthVotingInterval {VOTING_INTERVAL}",
            f"V3AuthVoteDelay {DELAY}",
            f"V3AuthDistDelay {DELAY}",
            "V3AuthNIntervalsValid 2",
            "TestingDirAuthVoteExit *",
            "TestingDirAuthVoteGuard *",
            "TestingDirAuthVoteHSDir *",
            "TestingMinExitFlagThreshold 0",
        )
    return text


def bridge(datadir: Path, authorities: list[str], address: str, port: int, resolv_conf: Path, obfs4proxy: str) -> str:
    """An unlisted obfs4 bridge: obfs4 on ``address:port``, its ORPort on loopback only
    (the Tor Project's advice for obfs4 bridges), no descriptor published anywhere."""
    return server(datadir, authorities, "bridge", resolv_conf) + _lines(
        "BridgeRelay 1",
        "PublishServerDescriptor 0",
        "ORPort 127.0.0.1:auto",
        "ExtORPort auto",
        f"OutboundBindAddress {address}",
        f"ServerTransportPlugin obfs4 exec {obfs4proxy}",
        f"ServerTransportListenAddr obfs4 {address}:{port}",
        "BridgeRecordUsageByCountry 0",
    )


def client(
    datadir: Path, authorities: list[str], ports: dict[str, int], bridge_line: str | None, obfs4proxy: str
) -> str:
    """A subscriber's tor: a control socket for stem, SOCKS, a transparent TCP port and
    a DNS port on loopback, and with ``bridge_line`` only that obfs4 bridge as its entry."""
    text = common(datadir, authorities) + _lines(
        f"ControlSocket {datadir / 'control'}",
        f"SocksPort 127.0.0.1:{ports['socks']}",
        f"TransPort 127.0.0.1:{ports['trans']}",
        f"DNSPort 127.0.0.1:{ports['dns']}",
    )
    if bridge_line is not None:
        text += _lines("UseBridges 1", f"ClientTransportPlugin obfs4 exec {obfs4proxy}", f"Bridge {bridge_line}")
    return text
