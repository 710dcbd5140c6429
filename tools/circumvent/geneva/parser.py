"""Reading a strategy string in Geneva's syntax into syntax.py's trees.

    strategy := forest [ '\\/' forest ]           outbound trees, then inbound ones
    forest   := { tree }                          trees apart by optional spaces
    tree     := '[' PROTO ':' field ':' value ']' '-' [ action ] '-' '|'
    action   := 'duplicate' [ children ]
              | 'fragment{' ('tcp'|'ip') ':' offset ':' ('True'|'False') [ ':' overlap ] '}' [ children ]
              | 'tamper{' PROTO ':' field ':' ( 'replace:' value | 'corrupt' ) '}' [ '(' action? ',' ')' ]
              | 'drop' | 'send'
    children := '(' [ action ] ',' [ action ] ')'  an empty child sends the packet on

As in Geneva, the last tree of each forest may leave out its ``|``, and inbound trees can
only tamper, drop or send. Fields and values are checked here (fields.py), so a strategy
that parses can run. Not read: trigger gas (``[TCP:flags:PA:2]``), wildcard trigger
values, sleep, trace, and UDP/DNS fields.

Anything else raises ``StrategyError``: one line with the character index (0-based)
where reading stopped, what was expected there, and what was found.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal, NoReturn

from tools.circumvent.geneva import fields
from tools.circumvent.geneva.syntax import (
    Drop,
    Duplicate,
    Fragment,
    Node,
    Offset,
    Send,
    Strategy,
    Tamper,
    Tree,
    Trigger,
)

SEPARATOR = "\\/"


class StrategyError(ValueError):
    """A strategy string that does not parse."""

    def __init__(self, position: int, message: str) -> None:
        self.position = position
        super().__init__(f"at position {position}: {message}")


def parse(text: str) -> Strategy:
    """The strategy ``text`` spells; StrategyError if it spells none."""
    return _Parser(text).strategy()


def _value_char(c: str) -> bool:
    return not c.isspace() and c not in "]}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    # -- reading characters
    def fail(self, expected: str, at: int | None = None, found: str | None = None) -> NoReturn:
        at = self.pos if at is None else at
        found = self.text[at : at + 16] if found is None else found
        raise StrategyError(at, f"expected {expected}, found {repr(found) if found else 'the end'}")

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def expect(self, token: str, what: str) -> None:
        if not self.peek(token):
            self.fail(what)
        self.pos += len(token)

    def take(self, allowed: Callable[[str], bool]) -> str:
        start = self.pos
        while self.pos < len(self.text) and allowed(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]

    def skip_spaces(self) -> None:
        self.take(str.isspace)

    def forest_ends(self) -> bool:
        rest = self.text[self.pos :].lstrip()
        return not rest or rest.startswith(SEPARATOR)

    # -- the grammar
    def strategy(self) -> Strategy:
        self.skip_spaces()
        if self.pos == len(self.text):
            self.fail(f"a tree '[PROTO:field:value]-action-|' or '{SEPARATOR}'")
        outbound = self.forest("out")
        inbound: tuple[Tree, ...] = ()
        if self.peek(SEPARATOR):
            self.pos += len(SEPARATOR)
            self.skip_spaces()
            inbound = self.forest("in")
            if self.pos < len(self.text):
                self.fail("'[' starting an inbound tree, or the end")
        elif self.pos < len(self.text):
            self.fail(f"'[' starting a tree, '{SEPARATOR}' or the end")
        return Strategy(outbound, inbound)

    def forest(self, direction: str) -> tuple[Tree, ...]:
        trees = []
        while self.peek("["):
            trees.append(self.tree(direction))
            self.skip_spaces()
        return tuple(trees)

    def tree(self, direction: str) -> Tree:
        self.pos += 1  # '['
        proto, name = self.proto_field("a protocol (IP or TCP)")
        self.expect(":", "':' before the trigger's value")
        start = self.pos
        value = self.take(lambda c: _value_char(c) and c != ":")
        if self.peek(":"):
            self.fail("']' closing the trigger (trigger gas, a fourth part, is not supported)")
        self.check_value(proto, name, value, start)
        self.expect("]", "']' closing the trigger")
        self.expect("-", "'-' after the trigger")
        action = None
        if self.peek("-"):
            self.pos += 1
        elif not self.peek("|") and not self.forest_ends():
            action = self.node(direction)
            self.expect("-", "'-' closing the action tree")
        if self.peek("|"):
            self.pos += 1
        elif not self.forest_ends():
            self.fail("'|' ending the tree")
        return Tree(Trigger(proto, name, value), action)

    def proto_field(self, what: str) -> tuple[str, str]:
        start = self.pos
        proto = self.take(str.isalpha)
        if proto not in fields.PROTOCOLS:
            self.fail(what, start)
        self.expect(":", "':' after the protocol")
        start = self.pos
        name = self.take(lambda c: c.isalnum() or c == "-")
        if f"{proto}:{name}" not in fields.FIELDS:
            self.fail(f"a {proto} field ({', '.join(fields.names(proto))})", start)
        return proto, name

    def check_value(self, proto: str, name: str, value: str, start: int) -> None:
        spec = fields.field(proto, name)
        try:
            spec.parse(value)
        except ValueError:
            self.fail(f"{spec.expects} for {spec.key}", start, value or "nothing")

    def node(self, direction: str) -> Node:
        start = self.pos
        name = self.take(str.isalpha)
        if name in ("duplicate", "fragment") and direction == "in":
            self.fail("tamper, drop or send (inbound trees cannot duplicate or fragment)", start)
        if name == "duplicate":
            return Duplicate(*self.children(direction, branching=True))
        if name == "fragment":
            proto, offset, in_order, overlap = self.fragment_params()
            return Fragment(proto, offset, in_order, overlap, *self.children(direction, branching=True))
        if name == "tamper":
            tamper = self.tamper_params()
            left, _ = self.children(direction, branching=False)
            return dataclasses.replace(tamper, left=left)
        if name in ("drop", "send"):
            if self.peek("(") or self.peek("{"):
                self.fail(f"'-', ',' or ')' after {name} (it takes no parameters and no children)")
            return Drop() if name == "drop" else Send()
        return self.fail("an action (duplicate, tamper, fragment, drop, send)", start)

    def children(self, direction: str, branching: bool) -> tuple[Node | None, Node | None]:
        if not self.peek("("):
            return None, None
        self.pos += 1
        left = self.child(direction)
        self.expect(",", "',' between the left and the right child")
        start = self.pos
        right = self.child(direction)
        if right is not None and not branching:
            self.fail("')': tamper has a left child only", start)
        self.expect(")", "')' closing the children")
        return left, right

    def child(self, direction: str) -> Node | None:
        return None if self.peek(",") or self.peek(")") else self.node(direction)

    def tamper_params(self) -> Tamper:
        self.expect("{", "'{' with PROTO:field:replace:VALUE or PROTO:field:corrupt")
        proto, name = self.proto_field("a protocol (IP or TCP)")
        self.expect(":", "':' after the field")
        start = self.pos
        mode = self.take(str.isalpha)
        value = None
        if mode == "replace":
            self.expect(":", "':' before the value")
            start = self.pos
            value = self.take(_value_char)
            self.check_value(proto, name, value, start)
        elif mode != "corrupt":
            self.fail("replace or corrupt", start)
        self.expect("}", "'}' closing the tamper")
        return Tamper(proto, name, "replace" if mode == "replace" else "corrupt", value)

    def fragment_params(self) -> tuple[Literal["tcp", "ip"], Offset, bool, int]:
        self.expect("{", "'{' with tcp|ip:OFFSET:True|False")
        start = self.pos
        proto = self.take(str.isalpha)
        if proto not in ("tcp", "ip"):
            self.fail("tcp or ip", start)
        self.expect(":", "':' before the offset")
        start = self.pos
        text = self.take(lambda c: _value_char(c) and c != ":")
        offset: Offset
        if text == "sni" and proto == "tcp":
            offset = "sni"
        elif text == "-1" or (text.isdigit() and int(text) > 0):
            offset = int(text)
        else:
            self.fail("an offset: -1 (half) or a positive integer" + (" or sni" if proto == "tcp" else ""), start)
        self.expect(":", "':' before True or False (in order)")
        start = self.pos
        order = self.take(str.isalpha)
        if order not in ("True", "False"):
            self.fail("True or False (in order)", start)
        overlap = 0
        if self.peek(":") and proto == "tcp":
            self.pos += 1
            digits = self.take(str.isdigit)
            if not digits:
                self.fail("an overlap in bytes (0 or more)")
            overlap = int(digits)
        self.expect("}", "'}' closing the fragment")
        return ("tcp" if proto == "tcp" else "ip"), offset, order == "True", overlap
