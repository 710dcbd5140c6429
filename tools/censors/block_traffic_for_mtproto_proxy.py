"""BlockTrafficForMTProtoProxy: a DPI box that tells a fake-TLS MTProto proxy's TLS from real TLS.

A fake-TLS MTProxy (tools/dpi/faketls.py) passes every check on its opening: its
ClientHello is a browser's, for an allowed name, with a random that only the secret
opens, and a censor's active probe (a replayed or a fresh ClientHello) is handed to the
name's real web server. Where it departs from TLS 1.3 is the client's next segment: a
real client, having received the server's ServerHello, answers with its ChangeCipherSpec
and its Finished, one encrypted record of 53 bytes (69 with a SHA-384 suite), before any
data; a fake-TLS client has no key schedule and sends its ChangeCipherSpec followed at
once by application data carrying the 64-byte obfuscated2 init, a record of well over
69 bytes. The censor reads the client's data segments after its first (kernel
selection: the client's 4th to 12th packets of a flow to the listed ports, of at least
104 bytes, the size of a ChangeCipherSpec and a Finished) and:

- a segment that starts with a ChangeCipherSpec record followed by an application-data
  record whose length is not a Finished's: the flow is blocked (``action: drop``, the
  default, drops it: the client's data never arrives and its exchange times out after
  a complete handshake; ``reset`` also sends the client a RST);
- one that starts with another TLS record (a TLS 1.2 key exchange or Finished, data
  after a Finished, an alert): passed for good;
- one that starts with no record header (the rest of a long ClientHello, not TLS at
  all), or a ChangeCipherSpec alone: no decision yet; the next segment decides.

What it cannot do: it keeps nothing per flow, so a client that sends its
ChangeCipherSpec in a segment of its own, or a record of a Finished's length first, is
passed; so are TLS 1.3 clients whose first encrypted record is not a Finished for a
good reason (0-RTT early data, a client certificate): the few it blocks by mistake.
Real TLS around MTProto (Telegram's web clients: WebSocket over TLS), a proxy that
completes a real handshake, and a VPN get through.

Models an assumption: nothing is published on Kazakhstan detecting MTProto proxies. In
2019 Iran's DPI replayed MTProxy openings to the proxy (alexbers/mtprotoproxy#108),
which replay protection and handing non-clients to the real site defeat, and the lab's
proxy does both; in Russia in 2026 users saw the fake handshake complete and the flow
dropped when application data began (9seconds/mtg#547), the point this censor acts at
(which tell Russia's DPI used there is not published; reports blame the ClientHello's
fingerprint).
"""

from __future__ import annotations

from typing import Any, ClassVar

from tools.basics.params import choice, ports
from tools.censors.base import Decision, Field
from tools.censors.queue import QueueCensor
from tools.censors.reset_traffic_for_tls_sni import resets
from tools.dpi import faketls
from tools.dpi.ipv4 import Packet

DEFAULT_PORTS = (443,)
ACTIONS = ("drop", "reset")
PACKETS = (4, 12)  # the client's packets read: after SYN, ACK and the ClientHello
MIN_LENGTH = 20 + 20 + len(faketls.CHANGE_CIPHER) + 5 + faketls.FINISHED_RECORDS[0]
RECORD_TYPES = (faketls.CHANGE_CIPHER_SPEC, faketls.ALERT, faketls.HANDSHAKE, faketls.APPLICATION_DATA)


def starts_record(payload: bytes) -> bool:
    """Whether ``payload`` starts with a TLS record header (type, version 3.x)."""
    return len(payload) >= 5 and payload[0] in RECORD_TYPES and payload[1] == 3


class BlockTrafficForMTProtoProxy(QueueCensor):
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | {
        "ports": Field(ports(15), "the destination ports whose flows it reads", DEFAULT_PORTS),
        "action": Field(choice(*ACTIONS), "drop the flow, or also reset the client", "drop"),
    }
    models = (
        "assumption (nothing published for KZ): Iran replayed MTProxy openings in 2019 (alexbers/mtprotoproxy#108), "
        "defeated by replay protection; Russia dropped fake-TLS flows when their data began (2026, 9seconds/mtg#547)"
    )
    probe_sees = (
        "telegram through a fake-TLS proxy: telegram_mtproto_blocking, generic_timeout_error (reset: "
        "connection_reset) at mtproto_handshake after the fake TLS handshake; real TLS 1.3 unaffected"
    )
    circumvention = (
        "a ChangeCipherSpec sent alone or a Finished-sized first record, real TLS around MTProto (WebSocket), "
        "a VPN; not a fresh proxy address or another domain"
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.ports, self.action = self.params["ports"], self.params["action"]
        self._sent: dict[tuple, int] = {}  # offline: packets each flow's client sent (the kernel's connbytes)

    def selection(self) -> list[str]:
        ports = ",".join(str(p) for p in self.ports)
        return [
            f"-p tcp -m multiport --dports {ports} -m connbytes --connbytes {PACKETS[0]}:{PACKETS[1]} "
            f"--connbytes-dir original --connbytes-mode packets -m length --length {MIN_LENGTH}:65535"
        ]

    def selects(self, pkt: Packet) -> bool:
        """The offline twin of the kernel selection."""
        if not pkt.tcp or pkt.dport not in self.ports:
            return False
        self._sent[pkt.key] = self._sent.get(pkt.key, 0) + 1
        return PACKETS[0] <= self._sent[pkt.key] <= PACKETS[1] and pkt.length >= MIN_LENGTH

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        payload = bytes(pkt.payload)
        after = faketls.after_change_cipher_spec(payload)
        if after is None:
            if payload.startswith(faketls.CHANGE_CIPHER) or not starts_record(payload):
                return Decision()  # not yet: what follows decides
            flows[pkt.key] = "pass"
            return Decision(flow="pass")
        kind, length = after
        if kind != faketls.APPLICATION_DATA or length in faketls.FINISHED_RECORDS:
            flows[pkt.key] = "pass"
            return Decision(flow="pass")
        flows[pkt.key] = "block"
        injected = resets(pkt, both=False) if self.action == "reset" else []
        note = f"{self.action}: data of {length} bytes where a TLS 1.3 Finished belongs (fake TLS)"
        return Decision("drop", injected, flow="block", note=note)
