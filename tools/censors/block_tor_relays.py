"""BlockTorRelays: the public Tor relays blocked by address, all in the kernel.

When attached, the censor downloads the network's consensus (the list of every public
relay, which anyone can fetch) from a directory authority, here from the lab's own
authorities in turn, asked from the censor's node, and then drops every forwarded packet
to any address it lists, the authorities' included, by one nftables set. A tor client
without a bridge then cannot reach an authority or a guard and its bootstrap stalls at
its first connection; a bridge is in no consensus, so a client that enters through an
unlisted obfs4 bridge still bootstraps (the bridge reaches the relays from outside). The
list is the consensus of the moment of attaching, as a blocklist refreshed now and then
would be. ``relays`` gives the addresses instead (offline grading, where there is no
authority to ask).
"""

from __future__ import annotations

from typing import Any, ClassVar

from tools.basics.params import PREFIXES
from tools.censors.base import Attachment, Decision, Field
from tools.censors.matching import AddressList
from tools.censors.shutdown import NftCensor, address_set
from tools.dpi import tor_consensus
from tools.dpi.ipv4 import Packet

FETCH_SECONDS = 5


class BlockTorRelays(NftCensor):
    fields: ClassVar[dict[str, Field]] = {
        "relays": Field(PREFIXES, "block these addresses instead of asking for the consensus", ()),
    }
    models = (
        "assumption: no relay blocking by address is published for Kazakhstan (kazakhstan.md section 7: demand for "
        "VPNs and Tor rose during the blocks); the relays' addresses are public in every consensus"
    )
    probe_sees = (
        "vanilla_tor: bootstrap failed, stalled at 5% (conn: Connecting to a relay); the tor method without a "
        "bridge does not come up; sites reached directly: untouched"
    )
    circumvention = "an unlisted bridge (obfs4); a VPN or proxy abroad, through which tor reaches the relays"
    table_prefix = "kzlab_tor"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.networks = AddressList(self.params["relays"])

    def attach(self, at: Attachment) -> None:
        if not self.networks:
            self.networks = AddressList(f"{a}/32" for a in self.consensus(at))
        super().attach(at)

    def consensus(self, at: Attachment) -> list[str]:
        """The relays' addresses in the consensus an authority serves, asked from the
        censor's own node (RuntimeError naming what was asked if none answers)."""
        tried = []
        for address, port in self.directories(at):
            path = at.workdir / "consensus"
            url = f"http://{address}:{port}{tor_consensus.PATH}"
            out = at.host.cmd(f"curl -sS -f -m {FETCH_SECONDS} -o {path} {url} 2>&1; echo rc=$?").strip()
            if out.endswith("rc=0") and (found := tor_consensus.addresses(path.read_text(errors="replace"))):
                return found
            tried.append(f"{url}: {' '.join(out.split()[:-1]) or 'no relays listed'}")
        raise RuntimeError(f"censor {self.name} on {at.host.name}: no consensus ({'; '.join(tried) or 'no authority'})")

    def directories(self, at: Attachment) -> list[tuple[str, int]]:
        """(address, DirPort) of the lab's directory authorities, to ask in turn."""
        return [
            (address, service.params["dirport"])
            for _, service in at.model.services("tor_network")
            for _, role, address in service.params["relays"]
            if role == "authority"
        ]

    def ruleset(self, at: Attachment, table: str) -> str:
        """One set of the relays' addresses, matched by a single rule."""
        return (
            f"table ip {table} {{\n"
            + address_set("relays", self.networks)
            + "  chain forward { type filter hook forward priority -5; ip daddr @relays counter drop; }\n"
            + "}\n"
        )

    def selects(self, pkt: Packet) -> bool:
        return True

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        if self.networks.covers(pkt.dst):
            return Decision("drop", note=f"drop: Tor relay {pkt.dst}")
        return Decision()
