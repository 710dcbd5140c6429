"""The genetic operators: mutation and crossover of outbound strategies.

Mutation makes one change, drawn among those that apply (Geneva's evolve.py mutates a
strategy in the same kinds of steps): add or remove a tree, change a tree's trigger, add
an action (in an empty slot, or above an action, which becomes its left child), remove
one (its left child, else its right one, takes its place), change an action to another
kind (keeping the children it can hold), change the field a tamper sets, or change a
value (a tamper's value or mode; a fragment's offset, order or protocol).

Crossover swaps material between two strategies: a whole tree, or a subtree of one tree
for a subtree of the other. Trees stay within MAX_ACTIONS, strategies within MAX_TREES.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from tools.circumvent.geneva.search import space
from tools.circumvent.geneva.search.edit import children, get, nodes, put, size, slots, with_children
from tools.circumvent.geneva.syntax import Fragment, Node, Strategy, Tamper, Tree

MAX_TREES = 3
MAX_ACTIONS = 5  # per tree


def _with_tree(strategy: Strategy, at: int, tree: Tree | None) -> Strategy:
    """``strategy`` with outbound tree ``at`` replaced by ``tree`` (removed if None)."""
    trees = list(strategy.outbound)
    if tree is None:
        del trees[at]
    else:
        trees[at] = tree
    return dataclasses.replace(strategy, outbound=tuple(trees))


def add_tree(strategy: Strategy, rng: random.Random) -> Strategy:
    tree = Tree(space.trigger(rng), space.action(rng))
    return dataclasses.replace(strategy, outbound=(*strategy.outbound, tree))


def remove_tree(strategy: Strategy, rng: random.Random) -> Strategy:
    return _with_tree(strategy, rng.randrange(len(strategy.outbound)), None)


def change_trigger(strategy: Strategy, rng: random.Random) -> Strategy:
    at = rng.randrange(len(strategy.outbound))
    tree = strategy.outbound[at]
    flags = [f for f in space.TRIGGER_FLAGS if f != tree.trigger.value]
    trigger = dataclasses.replace(tree.trigger, value=rng.choice(flags))
    return _with_tree(strategy, at, dataclasses.replace(tree, trigger=trigger))


def _edit_node(
    strategy: Strategy, rng: random.Random, wanted: Callable[[Node], bool], edit: Callable[[Node], Node | None]
) -> Strategy:
    """``strategy`` with one action for which ``wanted`` holds (drawn among all of them)
    replaced by ``edit`` of it."""
    found = [(i, at, n) for i, t in enumerate(strategy.outbound) for at, n in nodes(t.action) if wanted(n)]
    i, at, node = rng.choice(found)
    tree = strategy.outbound[i]
    return _with_tree(strategy, i, dataclasses.replace(tree, action=put(tree.action, at, edit(node))))


def add_action(strategy: Strategy, rng: random.Random) -> Strategy:
    room = [i for i, t in enumerate(strategy.outbound) if size(t.action) < MAX_ACTIONS]
    i = rng.choice(room)
    tree = strategy.outbound[i]
    new = space.action(rng)
    free = slots(tree.action)  # none under a lone drop
    if free and (tree.action is None or rng.random() < 0.7):
        action = put(tree.action, rng.choice(free), new)
    else:  # above an action, which becomes the new one's left child
        at, below = rng.choice(nodes(tree.action))
        action = put(tree.action, at, with_children(new, (below,)))
    return _with_tree(strategy, i, dataclasses.replace(tree, action=action))


def remove_action(strategy: Strategy, rng: random.Random) -> Strategy:
    def remove(node: Node) -> Node | None:
        return next((kid for kid in children(node) if kid is not None), None)

    return _edit_node(strategy, rng, lambda _: True, remove)


def change_action(strategy: Strategy, rng: random.Random) -> Strategy:
    def change(node: Node) -> Node:
        new = space.action(rng, space.kind(rng, other_than=type(node).__name__.lower()))
        kept = tuple(kid for kid in children(node) if kid is not None)
        return with_children(new, kept)

    return _edit_node(strategy, rng, lambda _: True, change)


def change_field(strategy: Strategy, rng: random.Random) -> Strategy:
    def change(node: Node) -> Node:
        assert isinstance(node, Tamper)
        keys = [k for k in space.VALUES if k != f"{node.proto}:{node.field}"]
        return dataclasses.replace(space.tamper(rng, rng.choice(keys)), left=node.left)

    return _edit_node(strategy, rng, lambda n: isinstance(n, Tamper), change)


def change_value(strategy: Strategy, rng: random.Random) -> Strategy:
    def change(node: Node) -> Node:
        if isinstance(node, Tamper):
            return dataclasses.replace(space.tamper(rng, f"{node.proto}:{node.field}"), left=node.left)
        assert isinstance(node, Fragment)
        pick = rng.randrange(3)
        if pick == 0:
            return dataclasses.replace(node, offset=space.offset(rng))
        if pick == 1:
            return dataclasses.replace(node, in_order=not node.in_order)
        return dataclasses.replace(node, proto="ip" if node.proto == "tcp" else "tcp")

    return _edit_node(strategy, rng, lambda n: isinstance(n, Tamper | Fragment), change)


Mutation = Callable[[Strategy, random.Random], Strategy]


def mutations(strategy: Strategy) -> dict[Mutation, int]:
    """The mutations that apply to ``strategy``, with their weights."""
    trees = strategy.outbound
    actions = [n for t in trees for _, n in nodes(t.action)]
    applies: dict[Mutation, tuple[bool, int]] = {
        add_tree: (len(trees) < MAX_TREES, 1),
        remove_tree: (bool(trees), 1),
        change_trigger: (bool(trees), 2),
        add_action: (any(size(t.action) < MAX_ACTIONS for t in trees), 3),
        remove_action: (bool(actions), 2),
        change_action: (bool(actions), 2),
        change_field: (any(isinstance(n, Tamper) for n in actions), 2),
        change_value: (any(isinstance(n, Tamper | Fragment) for n in actions), 3),
    }
    return {mutation: weight for mutation, (applies_here, weight) in applies.items() if applies_here}


def mutate(strategy: Strategy, rng: random.Random) -> Strategy:
    """``strategy`` with one change (an empty strategy gets its first tree)."""
    options = mutations(strategy)
    mutation = rng.choices(list(options), list(options.values()))[0]
    return mutation(strategy, rng)


def crossover(a: Strategy, b: Strategy, rng: random.Random) -> tuple[Strategy, Strategy]:
    """Two strategies that swapped a tree, or a subtree of a tree (unchanged if either has
    no tree, or a swap would make a tree too big)."""
    if not a.outbound or not b.outbound:
        return a, b
    i, j = rng.randrange(len(a.outbound)), rng.randrange(len(b.outbound))
    tree_a, tree_b = a.outbound[i], b.outbound[j]
    if rng.random() < 0.5:
        return _with_tree(a, i, tree_b), _with_tree(b, j, tree_a)
    at_a = rng.choice([at for at, _ in nodes(tree_a.action)] or [()])
    at_b = rng.choice([at for at, _ in nodes(tree_b.action)] or [()])
    action_a = put(tree_a.action, at_a, get(tree_b.action, at_b))
    action_b = put(tree_b.action, at_b, get(tree_a.action, at_a))
    if size(action_a) > MAX_ACTIONS or size(action_b) > MAX_ACTIONS:
        return a, b
    return (
        _with_tree(a, i, dataclasses.replace(tree_a, action=action_a)),
        _with_tree(b, j, dataclasses.replace(tree_b, action=action_b)),
    )
