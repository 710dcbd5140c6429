"""The packet fields a strategy names (``PROTO:field``): how a value is written in a
strategy, read from a packet, set in it, and drawn at random for ``corrupt``.

Values are ints, bytes (``load``, ``options-md5header``) or None (an option that is absent
or carries no value), compared as such by triggers. Written forms follow Geneva: decimal
integers; TCP flags as letters from ``FSRPAUECN`` (``PA``, ``SA``; order does not matter);
IP flags as ``DF``, ``MF``, ``evil`` joined by ``+`` (or an integer); ``load`` URL-quoted
(``%20`` for a space, ``%5D`` for ``]``); ``options-md5header`` as 32 hex digits; an
integer option written empty reads as absent in a trigger and is set to 0 by ``replace``.

The IP length and checksum and the TCP data offset and checksum are *derived*: a packet
gets them computed when it is written out (packet.py), unless a tamper set them on purpose.
"""

from __future__ import annotations

import random
import string
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: parsing a strategy (every kzlab command checks scenarios) needs no scapy
    from scapy.layers.inet import IP


Value = int | bytes | None

TCP_FLAGS = "FSRPAUECN"  # bit 0 (FIN) to bit 8 (NS), as scapy and Geneva write them
IP_FLAGS = {"MF": 1, "DF": 2, "evil": 4}


@dataclass(frozen=True)
class Field:
    proto: str
    name: str
    expects: str  # what a written value must be, for error messages
    parse: Callable[[str], Value]
    get: Callable[[IP], Value]
    set: Callable[[IP, Value], None] | None  # None: derived, computed when written out
    draw: Callable[[random.Random, Value], Value]  # a random value (given the current one)

    @property
    def key(self) -> str:
        return f"{self.proto}:{self.name}"

    def corrupt(self, pkt: IP, rng: random.Random) -> Value:
        """A random value other than the packet's (where the field has more than one)."""
        current = self.get(pkt)
        for _ in range(64):
            value = self.draw(rng, current)
            if value != current:
                return value
        return value


def _integer(bits: int) -> Callable[[str], Value]:
    def parse(text: str) -> Value:
        if not text.isdigit() or int(text) >= 1 << bits:
            raise ValueError
        return int(text)

    return parse


def _draw_bits(bits: int) -> Callable[[random.Random, Value], Value]:
    return lambda rng, _current: rng.randrange(1 << bits)


def _tcp_flags(text: str) -> Value:
    if text.isdigit() and int(text) < 1 << len(TCP_FLAGS):
        return int(text)
    if any(c not in TCP_FLAGS for c in text) or len(set(text)) != len(text):
        raise ValueError
    return sum(1 << TCP_FLAGS.index(c) for c in text)


def _ip_flags(text: str) -> Value:
    if text.isdigit() and int(text) < 8:
        return int(text)
    names = text.split("+") if text else []
    if any(n not in IP_FLAGS for n in names) or len(set(names)) != len(names):
        raise ValueError
    return sum(IP_FLAGS[n] for n in names)


def _load(text: str) -> Value:
    return urllib.parse.unquote_to_bytes(text)


def _get_load(pkt: IP) -> Value:
    return bytes(pkt["TCP"].payload)


def set_load(pkt: IP, value: Value) -> None:
    tcp = pkt["TCP"]
    tcp.remove_payload()
    if isinstance(value, bytes) and value:
        tcp.add_payload(value)  # scapy wraps bytes in its raw layer


def _draw_load(rng: random.Random, current: Value) -> Value:
    """Random bytes as long as the payload; ten letters and digits where there is none."""
    if isinstance(current, bytes) and current:
        return rng.randbytes(len(current))
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(10)).encode()


def _attribute(layer: str, attr: str) -> tuple[Callable[[IP], Value], Callable[[IP, Value], None]]:
    def get(pkt: IP) -> Value:
        return int(getattr(pkt[layer], attr))

    def set_(pkt: IP, value: Value) -> None:
        setattr(pkt[layer], attr, value)

    return get, set_


def _header(proto: str, name: str, bits: int, derived: bool = False) -> Field:
    get, set_ = _attribute(proto, name)
    return Field(
        proto,
        name,
        f"an integer 0..{(1 << bits) - 1}",
        _integer(bits),
        get,
        None if derived else set_,
        _draw_bits(bits),
    )


# TCP options as Geneva names them: (scapy's name, the value's kind: "none", "int<bits>", "md5")
OPTIONS = {
    "eol": ("EOL", "none"),
    "nop": ("NOP", "none"),
    "mss": ("MSS", "int16"),
    "wscale": ("WScale", "int8"),
    "sackok": ("SAckOK", "none"),
    "sack": ("SAck", "none"),
    "timestamp": ("Timestamp", "int32"),  # TSval (TSecr is kept)
    "altchksum": ("AltChkSum", "int8"),  # the algorithm
    "altchksumopt": ("AltChkSumOpt", "none"),
    "md5header": ("MD5", "md5"),
    "uto": ("UTO", "int16"),
}
EMPTY_OPTION_VALUE = {"EOL": None, "NOP": None, "SAckOK": b"", "SAck": (), "AltChkSumOpt": b""}


def _option(name: str) -> Field:
    scapy_name, kind = OPTIONS[name]

    def find(pkt: IP) -> int | None:
        return next((i for i, (n, _) in enumerate(pkt["TCP"].options) if n == scapy_name), None)

    def parse(text: str) -> Value:
        if text == "":
            return None
        if kind == "md5":
            if len(text) != 32 or any(c not in string.hexdigits for c in text):
                raise ValueError
            return bytes.fromhex(text)
        if kind == "none":
            raise ValueError
        return _integer(int(kind[3:]))(text)

    def get(pkt: IP) -> Value:
        at = find(pkt)
        if at is None:
            return None
        value = pkt["TCP"].options[at][1]
        value = value[0] if isinstance(value, tuple) and value else value
        return value if isinstance(value, int) or (isinstance(value, bytes) and value) else None

    def set_(pkt: IP, value: Value) -> None:
        options = list(pkt["TCP"].options)
        at = find(pkt)
        if kind == "none":
            option: tuple = (scapy_name, EMPTY_OPTION_VALUE[scapy_name])
        elif kind == "md5":
            option = (scapy_name, value or bytes(16))
        elif scapy_name == "Timestamp":
            echo = options[at][1][1] if at is not None else 0
            option = (scapy_name, (value or 0, echo))
        elif scapy_name == "AltChkSum":
            option = (scapy_name, (value or 0, 0))
        else:
            option = (scapy_name, value or 0)
        if at is None:
            options.append(option)
        else:
            options[at] = option
        pkt["TCP"].options = options

    def draw(rng: random.Random, _current: Value) -> Value:
        if kind == "none":
            return None  # corrupting a valueless option adds it
        return rng.randbytes(16) if kind == "md5" else rng.randrange(1 << int(kind[3:]))

    if kind == "none":
        expects = "nothing (the option has no value)"
    else:
        expects = "32 hex digits" if kind == "md5" else f"an integer 0..{(1 << int(kind[3:])) - 1}"
        expects += " (or nothing)"
    return Field("TCP", f"options-{name}", expects, parse, get, set_, draw)


def _build() -> dict[str, Field]:
    ip_flags_get, ip_flags_set = _attribute("IP", "flags")
    tcp_flags_get, tcp_flags_set = _attribute("TCP", "flags")
    table = [
        _header("IP", "tos", 8),
        _header("IP", "len", 16, derived=True),
        _header("IP", "id", 16),
        Field(
            "IP", "flags", "DF, MF, evil joined by + (or 0..7)", _ip_flags, ip_flags_get, ip_flags_set, _draw_bits(3)
        ),
        _header("IP", "frag", 13),
        _header("IP", "ttl", 8),
        _header("IP", "chksum", 16, derived=True),
        _header("TCP", "sport", 16),
        _header("TCP", "dport", 16),
        _header("TCP", "seq", 32),
        _header("TCP", "ack", 32),
        _header("TCP", "dataofs", 4, derived=True),
        _header("TCP", "reserved", 3),
        Field(
            "TCP",
            "flags",
            f"flag letters from {TCP_FLAGS} (e.g. PA, SA)",
            _tcp_flags,
            tcp_flags_get,
            tcp_flags_set,
            _draw_bits(len(TCP_FLAGS)),
        ),
        _header("TCP", "window", 16),
        _header("TCP", "chksum", 16, derived=True),
        _header("TCP", "urgptr", 16),
        Field("TCP", "load", "URL-quoted bytes", _load, _get_load, set_load, _draw_load),
        *(_option(name) for name in OPTIONS),
    ]
    return {f.key: f for f in table}


FIELDS = _build()
PROTOCOLS = ("IP", "TCP")


def field(proto: str, name: str) -> Field:
    """The field ``PROTO:name``; KeyError if the subset has no such field."""
    return FIELDS[f"{proto}:{name}"]


def names(proto: str) -> list[str]:
    return [f.name for f in FIELDS.values() if f.proto == proto]
