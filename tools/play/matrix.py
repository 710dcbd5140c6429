"""The outcome matrix as a student reads it: targets down, clients across."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text


@dataclass(frozen=True)
class Cell:
    client: str
    target: str
    expected: str
    observed: str
    predicted: str | None = None  # from the model alone, when the scenario predicts

    @property
    def as_predicted(self) -> bool:
        return self.predicted is None or self.predicted == self.observed

    @property
    def match(self) -> bool:
        return self.expected == self.observed

    def as_dict(self) -> dict[str, object]:
        return {
            "client": self.client,
            "target": self.target,
            "expected": self.expected,
            "observed": self.observed,
            "match": self.match,
        } | ({"predicted": self.predicted, "as_predicted": self.as_predicted} if self.predicted is not None else {})


# The outcome vocabulary (README: Outcomes), by the part before the colon: a class for
# colour in the terminal and in report.html, a short code for a matrix too wide for the
# terminal, and what the word means.
CATEGORIES: dict[str, tuple[str, str]] = {
    "accessible": ("ok", "OONI blocking false: the page loaded as the control's did"),
    "tls_mitm": ("mitm", "the page loaded, but the verified chain ends at an interception root"),
    "throttled": ("slow", "accessible, but the TLS handshake took over 2 s"),
    "dns": ("dns", "DNS answers inconsistent with the control (the failure after the colon)"),
    "tcp_ip": ("tcp", "every connection failed where the control's worked"),
    "http-failure": ("http", "the page fetch failed where the control's worked"),
    "http-diff": ("diff", "the page differs from the control's (a block page)"),
    "blocked": ("blk", "telegram / facebook_messenger: the OONI keys that are true"),
    "down": ("down", "the service itself did not answer"),
    "tunnel-failure": ("tun", "the circumvention method (after the colon) did not come up, so nothing was probed"),
    "unknown": ("?", "the control helper could not be asked"),
}
WIDTH = 120  # the terminal the matrix must fit


def category(outcome: str) -> str:
    return outcome.split(":", 1)[0]


def short_codes(outcomes: list[str]) -> dict[str, str]:
    """outcome -> a short code: the category's, numbered when one category holds several."""
    codes: dict[str, str] = {}
    for outcome in sorted(set(outcomes)):
        base = CATEGORIES.get(category(outcome), ("?", ""))[0]
        same = sorted({o for o in outcomes if CATEGORIES.get(category(o), ("?", ""))[0] == base})
        codes[outcome] = base if len(same) == 1 else f"{base}{same.index(outcome) + 1}"
    return codes


def render(title: str, clients: list[str], targets: list[str], cells: list[Cell], width: int = WIDTH) -> str:
    """A text table; a mismatched cell is marked "!" and listed below with its expectation.
    When the outcome words make it wider than ``width``, cells show short codes and a
    legend under the table gives each code's words."""
    by_key = {(c.client, c.target): c for c in cells}
    lines = _table(title, clients, targets, by_key, {})
    if max(len(line) for line in lines) > width:
        codes = short_codes([c.observed for c in cells])
        lines = _table(title, clients, targets, by_key, codes)
        lines += ["legend: " + "; ".join(f"{code} = {outcome}" for outcome, code in sorted(codes.items()))]
    bad = [c for c in cells if not c.match]
    lines.append(f"{len(cells) - len(bad)}/{len(cells)} cells as expected")
    lines += [f"  ! {c.client} -> {c.target}: expected {c.expected}, observed {c.observed}" for c in bad]
    if any(c.predicted is not None for c in cells):
        off = [c for c in cells if not c.as_predicted]
        lines.append(f"{len(cells) - len(off)}/{len(cells)} cells as the model predicted")
        lines += [f"  ~ {c.client} -> {c.target}: predicted {c.predicted}, observed {c.observed}" for c in off]
    return "\n".join(lines)


def _table(
    title: str, clients: list[str], targets: list[str], by_key: dict[tuple[str, str], Cell], codes: dict[str, str]
) -> list[str]:
    def text(c: Cell) -> str:
        return ("" if c.match else "! ") + codes.get(c.observed, c.observed)

    widths = [max([len(client)] + [len(text(by_key[client, t])) for t in targets]) for client in clients]
    first = max(len(t) for t in targets + ["target"])
    lines = [title, "  ".join(["target".ljust(first)] + [c.ljust(w) for c, w in zip(clients, widths, strict=True)])]
    for t in targets:
        row = [text(by_key[client, t]).ljust(w) for client, w in zip(clients, widths, strict=True)]
        lines.append("  ".join([t.ljust(first)] + row).rstrip())
    return lines


STYLES = {"ok": "green", "mitm": "magenta", "slow": "yellow", "?": "dim"}  # any other category: red
_WORDS = re.compile(
    r"\b(accessible|tls_mitm|throttled|(?:dns|tcp_ip|http-failure|http-diff|down|tunnel-failure|blocked|unknown):[a-z0-9_,]+)"
)
_CODES = re.compile(r"(?<![\w:-])(ok|mitm|slow|(?:dns|tcp|http|diff|blk|down|tun)\d*)(?![\w:-])")


def show(text: str, console: Console | None = None) -> None:
    """Print a rendered matrix, its outcomes coloured by category on a terminal (rich
    prints the same text without colour codes anywhere else)."""
    styled = Text(text)
    for pattern in (_WORDS, _CODES):
        for match in pattern.finditer(text):
            word = match.group(1)
            code = CATEGORIES.get(category(word), (word.rstrip("0123456789"), ""))[0]
            styled.stylize(STYLES.get(code, "red"), match.start(1), match.end(1))
    for match in re.finditer(r"! ", text):
        styled.stylize("bold red", match.start(), match.end())
    (console or Console(highlight=False, soft_wrap=True)).print(styled)
