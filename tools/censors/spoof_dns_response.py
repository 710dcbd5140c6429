"""SpoofDNSResponse: an on-path injector that races the real DNS answer.

It sees DNS queries crossing its node (kernel selection: UDP to port 53) and, for a
listed name, sends the querier a forged answer at once (an address of the censor's
choice, by default a bogus one) while letting the query go on: the real answer arrives
later and is ignored by a stub or resolver that took the first. The default forged
address (BOGUS) leads nowhere. Where the ISP resolver's
own queries cross the node, the forged answer poisons its cache for every subscriber.
Models DNS-based blocking, one of the mechanisms the lab offers for Facebook (kazakhstan.md
section 3, unconfirmed); as ooni/netem's DPISpoofDNSResponse and the GFW's injector.
"""

from __future__ import annotations

from typing import ClassVar

from tools.basics.params import ADDRESS
from tools.censors.base import Decision, Field
from tools.censors.matching import LIST_FIELDS, ListsNames
from tools.censors.queue import QueueCensor
from tools.dpi.dns import TYPE_A, first_question, forged_answer
from tools.dpi.ipv4 import Packet, udp_datagram

# An unassigned address in another company's block (Twitter's; the GFW's forged answers
# point at such addresses): routed, then silently dropped, so connections time out.
BOGUS = "104.244.46.244"


class SpoofDNSResponse(ListsNames, QueueCensor):
    fields: ClassVar[dict[str, Field]] = (
        QueueCensor.fields | LIST_FIELDS | {"address": Field(ADDRESS, "the forged answer's address", BOGUS)}
    )
    models = "kazakhstan.md section 3 (DNS-based blocking; mechanism unconfirmed)"
    probe_sees = 'web_connectivity: blocking "dns", dns_consistency "inconsistent"'
    circumvention = "DNS over HTTPS/TLS, a resolver whose queries do not cross the injector, DNSSEC validation"

    def selection(self) -> list[str]:
        return ["-p udp --dport 53"]

    def selects(self, pkt: Packet) -> bool:
        return pkt.udp and pkt.dport == 53

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        question = first_question(pkt.payload)
        if question is None or question.qtype != TYPE_A or not self.listed.covers(question.name):
            return Decision()
        # The answer repeats the first question only (as resolvers answer): one that
        # copied 25 questions would not fit in a packet (issue 9, item 3).
        answer = forged_answer(question, self.params["address"])
        forged = udp_datagram(pkt.dst, 53, pkt.src, pkt.sport, answer)
        return Decision("accept", [forged], note=f"spoofed {question.name}")
