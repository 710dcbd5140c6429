"""Recognising a VPN's opening packet, as a protocol DPI box can: OpenVPN and WireGuard.

Both protocols open with a packet whose first bytes are fixed by the protocol, so one
packet is enough:

- WireGuard's handshake initiation (the whitepaper's message type 1): a UDP payload of
  exactly 148 bytes starting with the type byte 1 and three reserved zero bytes. The rest
  (sender index, ephemeral key, sealed static key and timestamp, two MACs) is random to
  an observer. Every initiation looks so: the first of a flow and each rekeying (every
  two minutes), and whichever port the server listens on.
- OpenVPN's client hello, P_CONTROL_HARD_RESET_CLIENT_V2 (opcode 7, key id 0: first byte
  0x38), without tls-auth or tls-crypt: the opcode byte, the client's 8-byte session id
  (random, not all zero), an empty ACK array (one zero byte) and message packet id 0 (four
  zero bytes): 14 bytes, which OpenVPN 2.6 may follow with TLVs of its early negotiation.
  Over TCP every packet is preceded by its length in two bytes (big-endian), so the first
  data segment of the connection is that length, 14 or a little more, and the same packet.

What this does not recognise: OpenVPN with tls-auth or tls-crypt (an HMAC and a replay
counter sit between the session id and the ACK array; the opcode byte and session id
stay in the clear, so a DPI that reads the opcode and the packet sizes of the opening,
as the fingerprinting of Xue et al. (USENIX Security 2022) does, still can), OpenVPN's
tls-crypt-v2 opening (opcode 10), obfuscated variants (XOR patches, AmneziaWG's junk
packets and shifted headers), and WireGuard tunnelled in something else. Shadowsocks and
obfs4 have no fixed bytes at all: nothing here matches them.
"""

from __future__ import annotations

from dataclasses import dataclass

WG_INITIATION = b"\x01\x00\x00\x00"  # message type 1, three reserved zero bytes
WG_INITIATION_SIZE = 148
OPENVPN_HARD_RESET_CLIENT_V2 = 7
OPENVPN_RESET_SIZE = 14  # opcode/key id, session id, empty ACK array, message packet id
OPENVPN_TLV_ROOM = 64  # early-negotiation TLVs after the reset, at most
OPENVPN_TCP_LENGTH = 2  # the length prefix of every packet over TCP


@dataclass(frozen=True)
class Opening:
    """What a DPI concludes about a packet: ``protocol`` ("openvpn", "wireguard") if it
    opens that protocol's handshake, else None; ``reason`` in a few words."""

    protocol: str | None
    reason: str


def is_wireguard_initiation(payload: bytes) -> bool:
    """A UDP payload that is a WireGuard handshake initiation."""
    return len(payload) == WG_INITIATION_SIZE and payload[:4] == WG_INITIATION


def is_openvpn_client_reset(packet: bytes) -> bool:
    """One OpenVPN packet (without the TCP length prefix) that is a client's hard reset
    in the plain form (no tls-auth, no tls-crypt)."""
    return (
        OPENVPN_RESET_SIZE <= len(packet) <= OPENVPN_RESET_SIZE + OPENVPN_TLV_ROOM
        and packet[0] == OPENVPN_HARD_RESET_CLIENT_V2 << 3
        and any(packet[1:9])
        and packet[9:14] == b"\0" * 5
    )


def inspect_udp(payload: bytes) -> Opening:
    """Read a UDP payload."""
    payload = bytes(payload)
    if is_wireguard_initiation(payload):
        return Opening("wireguard", "WireGuard handshake initiation (type 1, 148 bytes)")
    if is_openvpn_client_reset(payload):
        return Opening("openvpn", "OpenVPN P_CONTROL_HARD_RESET_CLIENT_V2 over UDP")
    return Opening(None, f"{len(payload)} bytes, no VPN opening")


def inspect_tcp(payload: bytes) -> Opening:
    """Read the first data segment of a TCP connection."""
    payload = bytes(payload)
    if len(payload) < OPENVPN_TCP_LENGTH:
        return Opening(None, f"{len(payload)} bytes, no VPN opening")
    length = int.from_bytes(payload[:OPENVPN_TCP_LENGTH], "big")
    packet = payload[OPENVPN_TCP_LENGTH : OPENVPN_TCP_LENGTH + length]
    if len(packet) == length and is_openvpn_client_reset(packet):
        return Opening("openvpn", "OpenVPN P_CONTROL_HARD_RESET_CLIENT_V2 over TCP (length-prefixed)")
    return Opening(None, f"{len(payload)} bytes, no VPN opening")
