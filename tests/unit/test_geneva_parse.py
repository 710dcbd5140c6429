"""tools/circumvent/geneva/parser.py: Geneva's strategy syntax read into trees, printed
back, and every string that does not parse refused with the position and what was
expected there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tools.basics.paths import REPO
from tools.circumvent.geneva.library import LIBRARY
from tools.circumvent.geneva.parser import StrategyError, parse
from tools.circumvent.geneva.syntax import Drop, Duplicate, Fragment, Send, Strategy, Tamper, Tree, Trigger


@pytest.mark.parametrize("name", list(LIBRARY))
def test_every_library_strategy_parses_and_prints_back(name: str) -> None:
    text = LIBRARY[name].strategy
    strategy = parse(text)
    assert str(strategy) == text
    assert parse(str(strategy)) == strategy
    assert strategy.outbound and not strategy.inbound


def test_the_kazakhstan_strategies_read_as_section_6_describes_them() -> None:
    assert parse(LIBRARY["kz_segmentation"].strategy) == Strategy(
        (Tree(Trigger("TCP", "flags", "PA"), Fragment("tcp", -1, True)),)
    )
    assert parse(LIBRARY["kz_small_ip_length"].strategy).outbound[0].action == Duplicate(
        Tamper("IP", "len", "replace", "78"), None
    )
    syn_payload = parse(LIBRARY["kz_syn_payload"].strategy).outbound[0]
    assert syn_payload == Tree(Trigger("TCP", "flags", "S"), Duplicate(None, Tamper("TCP", "load", "corrupt")))
    assert parse(LIBRARY["kz_tcb_turnaround"].strategy).outbound[0].action == Duplicate(
        Tamper("TCP", "flags", "replace", "SA"), None
    )


# Strategies of Geneva's published library (China, India, Kazakhstan), as written there:
# nested trees, a missing final '|', trees with no space between them, inbound forests.
GENEVA_WRITTEN = [
    "[TCP:flags:PA]-duplicate(tamper{TCP:dataofs:replace:10}(tamper{TCP:chksum:replace:25776},),)-",
    "[TCP:flags:PA]-duplicate(tamper{TCP:options-wscale:corrupt}(tamper{TCP:dataofs:replace:8},),)-",
    "[TCP:flags:A]-duplicate(tamper{TCP:flags:replace:R}(tamper{TCP:chksum:replace:14239},),"
    "duplicate(tamper{TCP:flags:replace:S}(tamper{TCP:chksum:replace:14239},),))-| \\/",
    "[TCP:flags:PA]-duplicate(tamper{TCP:load:corrupt}(tamper{IP:ttl:replace:8}(duplicate(fragment{tcp:-1:False},),),),)-",
    "[TCP:flags:PA]-fragment{tcp:8:True}(,fragment{tcp:4:True})-",
    "[TCP:flags:PA]-fragment{tcp:8:False}-|[TCP:flags:A]-tamper{TCP:seq:replace:2258679050}-",
    "[TCP:flags:A]-tamper{TCP:load:replace:a5z2}(tamper{TCP:flags:replace:CN},)-",
    "[TCP:options-mss:]-tamper{TCP:options-md5header:corrupt}-| \\/",
    "[TCP:flags:SA]-tamper{TCP:window:replace:98}-|",
    "\\/ [TCP:flags:R]-drop-|",
    "\\/ [TCP:dataofs:5]-drop-|",
    "[TCP:flags:PA]-duplicate(tamper{TCP:flags:replace:F}(tamper{IP:len:replace:68},),)-| \\/",
    "\\/",
]


@pytest.mark.parametrize("text", GENEVA_WRITTEN)
def test_geneva_library_strings_parse_and_print_back_equivalent(text: str) -> None:
    strategy = parse(text)
    printed = str(strategy)
    assert parse(printed) == strategy
    assert str(parse(printed)) == printed  # the printed form is a fixed point


def test_printing_restores_the_missing_bar_and_drops_an_empty_inbound_part() -> None:
    assert str(parse(GENEVA_WRITTEN[4])) == "[TCP:flags:PA]-fragment{tcp:8:True}(,fragment{tcp:4:True})-|"
    assert str(parse(GENEVA_WRITTEN[5])) == (
        "[TCP:flags:PA]-fragment{tcp:8:False}-| [TCP:flags:A]-tamper{TCP:seq:replace:2258679050}-|"
    )
    assert str(parse(GENEVA_WRITTEN[7])) == "[TCP:options-mss:]-tamper{TCP:options-md5header:corrupt}-|"
    assert str(parse(GENEVA_WRITTEN[9])) == "\\/ [TCP:flags:R]-drop-|"


def test_nested_trees_keep_left_and_right() -> None:
    tree = parse(GENEVA_WRITTEN[2]).outbound[0]
    assert tree.trigger == Trigger("TCP", "flags", "A")
    rst = Tamper("TCP", "flags", "replace", "R", Tamper("TCP", "chksum", "replace", "14239"))
    syn = Tamper("TCP", "flags", "replace", "S", Tamper("TCP", "chksum", "replace", "14239"))
    assert tree.action == Duplicate(rst, Duplicate(syn, None))
    deep = parse(GENEVA_WRITTEN[3]).outbound[0].action
    assert deep == Duplicate(
        Tamper(
            "TCP", "load", "corrupt", None, Tamper("IP", "ttl", "replace", "8", Duplicate(Fragment("tcp", -1, False)))
        ),
        None,
    )
    assert parse(GENEVA_WRITTEN[4]).outbound[0].action == Fragment("tcp", 8, True, 0, None, Fragment("tcp", 4, True))


def test_forests_directions_and_empty_trees() -> None:
    two = parse(GENEVA_WRITTEN[5])
    assert [t.trigger.value for t in two.outbound] == ["PA", "A"] and not two.inbound
    assert parse("\\/ [TCP:flags:R]-drop-|") == Strategy((), (Tree(Trigger("TCP", "flags", "R"), Drop()),))
    assert parse("\\/") == Strategy() and str(Strategy()) == "\\/"
    both = parse("[TCP:flags:S]-duplicate(send,drop)-| \\/ [TCP:flags:SA]-tamper{TCP:window:replace:0}-|")
    assert both.outbound[0].action == Duplicate(Send(), Drop())
    assert both.inbound[0].action == Tamper("TCP", "window", "replace", "0")
    assert str(both) == "[TCP:flags:S]-duplicate(send,drop)-| \\/ [TCP:flags:SA]-tamper{TCP:window:replace:0}-|"
    assert parse("[TCP:flags:S]-|").outbound[0].action is None
    assert parse("[TCP:flags:S]--|") == parse("[TCP:flags:S]-|")
    assert parse("  [IP:ttl:64]-fragment{ip:2:False}-|  ").outbound[0].action == Fragment("ip", 2, False)
    assert parse("[TCP:flags:PA]-fragment{tcp:sni:True:3}-|").outbound[0].action == Fragment("tcp", "sni", True, 3)


# (string, position, part of the message): each stops where the string goes wrong.
BAD = [
    ("", 0, "expected a tree '[PROTO:field:value]-action-|' or '\\/', found the end"),
    ("[UDP:sport:53]-drop-|", 1, "expected a protocol (IP or TCP), found 'UDP:sport:53]-dr"),
    ("[TCP:flag:PA]-drop-|", 5, "expected a TCP field (sport, dport, seq"),
    ("[TCP:flags:PX]-drop-|", 11, "expected flag letters from FSRPAUECN (e.g. PA, SA) for TCP:flags, found 'PX'"),
    ("[TCP:flags:PA:2]-drop-|", 13, "trigger gas, a fourth part, is not supported"),
    ("[TCP:flags:PA]drop-|", 14, "expected '-' after the trigger, found 'drop-|'"),
    ("[TCP:flags:PA]-dupe-|", 15, "expected an action (duplicate, tamper, fragment, drop, send), found 'dupe-|'"),
    ("[TCP:flags:PA]-duplicate(drop)-|", 29, "expected ',' between the left and the right child, found ')-|'"),
    ("[TCP:flags:PA]-duplicate(,drop-|", 30, "expected ')' closing the children, found '-|'"),
    ("[TCP:flags:PA]-tamper{IP:ttl:replace:256}-|", 37, "expected an integer 0..255 for IP:ttl, found '256'"),
    ("[TCP:flags:PA]-tamper{IP:ttl:change:1}-|", 29, "expected replace or corrupt, found 'change:1}-|'"),
    ("[TCP:flags:PA]-tamper{IP:ttl:corrupt}(,drop)-|", 39, "expected ')': tamper has a left child only"),
    ("[TCP:flags:PA]-fragment{udp:1:True}-|", 24, "expected tcp or ip, found 'udp:1:True}-|'"),
    ("[TCP:flags:PA]-fragment{tcp:0:True}-|", 28, "expected an offset: -1 (half) or a positive integer or sni"),
    ("[TCP:flags:PA]-fragment{ip:sni:True}-|", 27, "expected an offset: -1 (half) or a positive integer, found"),
    ("[TCP:flags:PA]-fragment{tcp:2:true}-|", 30, "expected True or False (in order), found 'true}-|'"),
    (
        "[TCP:flags:PA]-drop(send,)-|",
        19,
        "expected '-', ',' or ')' after drop (it takes no parameters and no children)",
    ),
    ("[TCP:flags:PA]-drop-| x", 22, "expected '[' starting a tree, '\\/' or the end, found 'x'"),
    ("[TCP:flags:PA]-drop- [TCP:flags:S]-drop-|", 20, "expected '|' ending the tree"),
    (
        "\\/ [TCP:flags:SA]-duplicate-|",
        18,
        "expected tamper, drop or send (inbound trees cannot duplicate or fragment)",
    ),
    ("\\/ [TCP:flags:SA]-drop-| \\/", 25, "expected '[' starting an inbound tree, or the end, found '\\\\/'"),
    ("[TCP:options-sackok:1]-drop-|", 20, "expected nothing (the option has no value) for TCP:options-sackok"),
    ("[TCP:flags:PA]-tamper{TCP:options-md5header:replace:abc}-|", 52, "expected 32 hex digits (or nothing)"),
]


@pytest.mark.parametrize(("text", "position", "message"), BAD)
def test_bad_strings_name_the_position_and_what_was_expected(text: str, position: int, message: str) -> None:
    with pytest.raises(StrategyError) as caught:
        parse(text)
    assert caught.value.position == position
    assert str(caught.value).startswith(f"at position {position}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.circumvent.geneva", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_the_cli_says_where_a_strategy_does_not_parse_in_one_line_and_exits_2() -> None:
    done = run_cli("--strategy", "[TCP:flags:PA]-fragment{tcp:-1:True}(drop)-|")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "kzlab: error: strategy: at position 41: expected ',' between the left and the right child, found ')-|'\n"
    )
    unknown = run_cli("--strategy", "kz_nothing")
    assert unknown.returncode == 2 and unknown.stderr.startswith("kzlab: error: strategy: at position 0: 'kz_nothing'")
    assert unknown.stderr.count("\n") == 1


def test_the_cli_lists_the_library() -> None:
    done = run_cli("--list")
    assert done.returncode == 0
    for named in LIBRARY.values():
        assert named.name in done.stdout and named.strategy in done.stdout
