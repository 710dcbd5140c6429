"""tools/circumvent/geneva/search: strategies as the search edits them (edit.py), what it
draws (space.py), and its mutation and crossover (operators.py). Every strategy the
operators make prints in Geneva's syntax and the engine's parser reads it back."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from tools.circumvent.geneva.library import LIBRARY
from tools.circumvent.geneva.parser import parse
from tools.circumvent.geneva.search import operators, space
from tools.circumvent.geneva.search.edit import canonical, complexity, get, nodes, normal, put, size, slots
from tools.circumvent.geneva.syntax import Drop, Duplicate, Fragment, Send, Strategy, Tamper, Tree, Trigger

SMALL_IP_LENGTH = parse(LIBRARY["kz_small_ip_length"].strategy)  # duplicate(tamper{IP:len:replace:78},)


def walk(seed: int, steps: int) -> list[Strategy]:
    """The strategies a chain of mutations and crossovers makes from the empty one."""
    rng = random.Random(seed)
    made, a, b = [], Strategy(), Strategy()
    for _ in range(steps):
        a, b = operators.mutate(a, rng), operators.mutate(b, rng)
        if rng.random() < 0.3:
            a, b = operators.crossover(a, b, rng)
        made += [a, b]
    return made


def test_positions_slots_and_subtrees_of_a_published_strategy() -> None:
    action = SMALL_IP_LENGTH.outbound[0].action
    assert [(at, type(n).__name__) for at, n in nodes(action)] == [((), "Duplicate"), ((0,), "Tamper")]
    assert slots(action) == [(1,), (0, 0)]  # duplicate's right child, the tamper's only child
    assert slots(None) == [()]
    assert get(action, (0,)) == Tamper("IP", "len", "replace", "78")
    assert put(action, (1,), Drop()) == Duplicate(Tamper("IP", "len", "replace", "78"), Drop())
    assert put(action, (0,), None) == Duplicate()
    assert put(action, (), None) is None
    assert size(action) == 2 and size(None) == 0
    assert complexity(SMALL_IP_LENGTH) == 3  # one tree, two actions


def test_send_is_written_as_an_empty_child_in_the_canonical_text() -> None:
    written = parse("[TCP:flags:PA]-duplicate(send,tamper{TCP:load:corrupt}(send,))-| [TCP:flags:S]-send-|")
    assert canonical(written) == "[TCP:flags:PA]-duplicate(,tamper{TCP:load:corrupt})-| [TCP:flags:S]-|"
    assert not any(isinstance(n, Send) for t in normal(written).outbound for _, n in nodes(t.action))
    assert canonical(Strategy()) == "\\/"


@pytest.mark.parametrize("seed", range(3))
def test_every_strategy_the_operators_make_renders_in_genevas_syntax_and_parses_back(seed: int) -> None:
    for strategy in walk(seed, 200):
        text = canonical(strategy)
        assert parse(text) == normal(strategy) == strategy, text
        assert canonical(parse(text)) == text


def test_strategies_stay_within_the_size_limits() -> None:
    for strategy in walk(7, 400):
        assert len(strategy.outbound) <= operators.MAX_TREES and not strategy.inbound
        assert all(size(t.action) <= operators.MAX_ACTIONS for t in strategy.outbound), canonical(strategy)


def test_the_walk_reaches_every_action_trigger_and_tamper_field() -> None:
    seen: Counter[str] = Counter()
    for strategy in walk(3, 400):
        for tree in strategy.outbound:
            seen[tree.trigger.value] += 1
            for _, node in nodes(tree.action):
                seen[type(node).__name__] += 1
                if isinstance(node, Tamper):
                    seen[f"{node.proto}:{node.field}"] += 1
    assert set(space.TRIGGER_FLAGS) | {"Tamper", "Duplicate", "Fragment", "Drop"} | set(space.VALUES) <= set(seen)


def test_the_empty_strategy_can_only_grow_a_tree_of_one_action() -> None:
    rng = random.Random(0)
    for _ in range(50):
        (tree,) = operators.mutate(Strategy(), rng).outbound
        assert tree.trigger.proto == "TCP" and tree.trigger.field == "flags" and size(tree.action) == 1


def test_first_mutations_of_the_empty_strategy_include_fragmenting_a_data_segment() -> None:
    """The evasion segmentation (kazakhstan.md section 6) is one mutation away from nothing."""
    rng = random.Random(1)
    firsts = [operators.mutate(Strategy(), rng).outbound[0] for _ in range(100)]
    assert any(t.trigger.value == "PA" and isinstance(t.action, Fragment) and t.action.proto == "tcp" for t in firsts)


ONE = Strategy((Tree(Trigger("TCP", "flags", "PA"), Duplicate(Tamper("IP", "ttl", "replace", "3"), Drop())),))


def mutated(mutation: operators.Mutation, strategy: Strategy, seed: int = 0) -> Strategy:
    return mutation(strategy, random.Random(seed))


def test_each_mutation_makes_the_change_it_names() -> None:
    (tree,) = ONE.outbound
    assert len(mutated(operators.add_tree, ONE).outbound) == 2
    assert mutated(operators.remove_tree, ONE) == Strategy()
    changed = mutated(operators.change_trigger, ONE).outbound[0]
    assert changed.trigger.value != "PA" and changed.action == tree.action
    assert size(mutated(operators.add_action, ONE).outbound[0].action) == 4
    for seed in range(10):
        assert size(mutated(operators.remove_action, ONE, seed).outbound[0].action) in (1, 2)  # a leaf, or the root
        kinds = [type(n) for _, n in nodes(mutated(operators.change_action, ONE, seed).outbound[0].action)]
        assert kinds != [Duplicate, Tamper, Drop]
        tamper = get(mutated(operators.change_field, ONE, seed).outbound[0].action, (0,))
        assert isinstance(tamper, Tamper) and (tamper.proto, tamper.field) != ("IP", "ttl")
        tamper = get(mutated(operators.change_value, ONE, seed).outbound[0].action, (0,))
        assert isinstance(tamper, Tamper) and (tamper.proto, tamper.field) == ("IP", "ttl")


def test_a_fragments_value_changes_its_offset_order_or_protocol() -> None:
    split = Strategy((Tree(Trigger("TCP", "flags", "PA"), Fragment("tcp", -1, True)),))
    before, changes = split.outbound[0].action, set()
    for seed in range(30):
        fragment = mutated(operators.change_value, split, seed).outbound[0].action
        assert isinstance(fragment, Fragment)
        changes |= {
            name for name in ("offset", "in_order", "proto") if getattr(fragment, name) != getattr(before, name)
        }
    assert changes == {"offset", "in_order", "proto"}


def test_mutations_that_need_something_apply_only_where_it_is() -> None:
    assert set(operators.mutations(Strategy())) == {operators.add_tree}
    drop_only = Strategy((Tree(Trigger("TCP", "flags", "S"), Drop()),))
    assert operators.change_field not in operators.mutations(drop_only)
    assert operators.change_value not in operators.mutations(drop_only)
    full = Strategy((Tree(Trigger("TCP", "flags", "S"), None),) * operators.MAX_TREES)
    assert operators.add_tree not in operators.mutations(full)


def test_crossover_swaps_a_tree_or_a_subtree_and_keeps_every_action() -> None:
    other = Strategy((Tree(Trigger("TCP", "flags", "S"), Fragment("ip", 8, False, left=Drop())),))
    kinds = set()
    for seed in range(30):
        a, b = operators.crossover(ONE, other, random.Random(seed))
        assert complexity(a) + complexity(b) == complexity(ONE) + complexity(other)
        whole = {a.outbound[0], b.outbound[0]} == {ONE.outbound[0], other.outbound[0]}
        kinds.add("tree" if whole else "subtree")
        assert parse(canonical(a)) == a and parse(canonical(b)) == b
    assert kinds == {"tree", "subtree"}
    assert operators.crossover(ONE, Strategy(), random.Random(0)) == (ONE, Strategy())
