"""Strategies as the search edits them: positions in an action tree, a subtree taken out
or put in, the canonical text, and a strategy's size.

A position is the path from a tree's root action: 0 for a left child, 1 for a right one
(``()`` is the root). ``send`` and an empty child run the same (actions.py), so the
search writes neither: ``normal`` turns every ``send`` into an empty child, and the
canonical text of a strategy is that of its normal form, which the parser reads back
(tests/unit/test_geneva_search.py).
"""

from __future__ import annotations

import dataclasses

from tools.circumvent.geneva.syntax import Drop, Duplicate, Fragment, Node, Send, Strategy, Tamper, Tree

Position = tuple[int, ...]


def children(node: Node) -> tuple[Node | None, ...]:
    """The child slots ``node`` has: a tamper one, duplicate and fragment two, drop none."""
    if isinstance(node, Tamper):
        return (node.left,)
    if isinstance(node, Duplicate | Fragment):
        return node.left, node.right
    return ()


def with_children(node: Node, kids: tuple[Node | None, ...]) -> Node:
    """``node`` with its child slots filled from ``kids`` (extra kids are left out)."""
    if isinstance(node, Tamper):
        return dataclasses.replace(node, left=kids[0] if kids else None)
    if isinstance(node, Duplicate | Fragment):
        padded = (*kids, None, None)
        return dataclasses.replace(node, left=padded[0], right=padded[1])
    return node


def nodes(node: Node | None, at: Position = ()) -> list[tuple[Position, Node]]:
    """Every action under ``node`` with its position, the root first (preorder)."""
    if node is None:
        return []
    out = [(at, node)]
    for i, kid in enumerate(children(node)):
        out += nodes(kid, (*at, i))
    return out


def slots(node: Node | None) -> list[Position]:
    """The empty child slots under ``node`` where an action can go (the root if none)."""
    if node is None:
        return [()]
    return [(*at, i) for at, n in nodes(node) for i, kid in enumerate(children(n)) if kid is None]


def get(node: Node | None, at: Position) -> Node | None:
    for i in at:
        assert node is not None
        node = children(node)[i]
    return node


def put(node: Node | None, at: Position, new: Node | None) -> Node | None:
    """``node`` with the subtree at ``at`` replaced by ``new``."""
    if not at:
        return new
    assert node is not None
    kids = list(children(node))
    kids[at[0]] = put(kids[at[0]], at[1:], new)
    return with_children(node, tuple(kids))


def size(node: Node | None) -> int:
    """How many actions the tree at ``node`` has."""
    return len(nodes(node))


def _normal(node: Node | None) -> Node | None:
    if node is None or isinstance(node, Send):
        return None
    if isinstance(node, Drop):
        return node
    return with_children(node, tuple(_normal(kid) for kid in children(node)))


def normal(strategy: Strategy) -> Strategy:
    """The same strategy with no ``send``: an empty child instead."""
    return Strategy(
        tuple(Tree(t.trigger, _normal(t.action)) for t in strategy.outbound),
        tuple(Tree(t.trigger, _normal(t.action)) for t in strategy.inbound),
    )


def canonical(strategy: Strategy) -> str:
    """The text the search knows a strategy by (its fitness is cached under it)."""
    return str(normal(strategy))


def complexity(strategy: Strategy) -> int:
    """What the fitness charges for: each tree, and each action in it."""
    trees = strategy.outbound + strategy.inbound
    return len(trees) + sum(size(t.action) for t in trees)
