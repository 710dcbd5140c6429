"""Named strategies a subscriber can switch on: the four published for Kazakhstan's 2019
interception device, and ClientHello splitting as desktop DPI-bypass tools do it.

``python -m tools.circumvent.geneva --strategy NAME`` runs one by name; ``--list`` prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.circumvent.geneva.parser import StrategyError, parse
from tools.circumvent.geneva.syntax import Strategy

GENEVA_KZ = (
    "Geneva's strategy library (Kkevsterrr/geneva, library.py, test_type kazakhstan_injected_https) and "
    "the Geneva team's 2019 write-up on Kazakhstan; kazakhstan.md section 6"
)


@dataclass(frozen=True)
class Named:
    name: str
    strategy: str
    what: str
    success: str  # as reported by its source
    source: str


LIBRARY = {
    s.name: s
    for s in (
        Named(
            "kz_segmentation",
            "[TCP:flags:PA]-fragment{tcp:-1:True}-|",
            "the ClientHello sent as two TCP segments, in order",
            "100% against the 2019 device",
            GENEVA_KZ,
        ),
        Named(
            "kz_small_ip_length",
            "[TCP:flags:PA]-duplicate(tamper{IP:len:replace:78},)-|",
            "a first copy of the ClientHello with IP total length 78 (the server keeps its first bytes), "
            "then the original",
            "100% against the 2019 device",
            GENEVA_KZ,
        ),
        Named(
            "kz_syn_payload",
            "[TCP:flags:S]-duplicate(,tamper{TCP:load:corrupt})-|",
            "the SYN, then a second SYN carrying a random payload",
            "100% against the 2019 device",
            GENEVA_KZ,
        ),
        Named(
            "kz_tcb_turnaround",
            "[TCP:flags:S]-duplicate(tamper{TCP:flags:replace:SA},)-|",
            'a SYN-ACK copy of the SYN sent first ("TCB turnaround"), then the SYN',
            "100% against the 2019 device",
            GENEVA_KZ,
        ),
        Named(
            "clienthello_split",
            "[TCP:flags:PA]-fragment{tcp:sni:True}-|",
            "each data segment cut in two, a ClientHello one byte into its server name (other segments in half)",
            "beats a DPI that reads one segment (docs/censors.md: ResetTrafficForTLSSNI, DropTrafficForTLSSNI, "
            "ThrottleTrafficForTLSSNI); not measured against the 2019 device",
            "desktop DPI-bypass tools (GoodbyeDPI, zapret, byedpi, SpoofDPI) split the ClientHello at or near "
            "the SNI; the sni offset is this lab's extension of Geneva's syntax",
        ),
    )
}


def strategy_named(text: str) -> Strategy:
    """A library strategy by name, else ``text`` read as a strategy string."""
    if text in LIBRARY:
        return parse(LIBRARY[text].strategy)
    if text.isidentifier():
        raise StrategyError(0, f"{text!r} is no strategy of the library ({', '.join(LIBRARY)}) nor a strategy string")
    return parse(text)
