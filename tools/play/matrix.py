"""The outcome matrix as a student reads it: targets down, clients across."""

from __future__ import annotations

from dataclasses import dataclass


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


def render(title: str, clients: list[str], targets: list[str], cells: list[Cell]) -> str:
    """A text table; a mismatched cell is marked "!" and listed below with its expectation."""
    by_key = {(c.client, c.target): c for c in cells}

    def text(c: Cell) -> str:
        return ("" if c.match else "! ") + c.observed

    widths = [max([len(client)] + [len(text(by_key[client, t])) for t in targets]) for client in clients]
    first = max(len(t) for t in targets + ["target"])
    lines = [
        title,
        "  ".join(["target".ljust(first)] + [c.ljust(w) for c, w in zip(clients, widths, strict=True)]),
    ]
    for t in targets:
        row = [text(by_key[client, t]).ljust(w) for client, w in zip(clients, widths, strict=True)]
        lines.append("  ".join([t.ljust(first)] + row).rstrip())
    bad = [c for c in cells if not c.match]
    lines.append(f"{len(cells) - len(bad)}/{len(cells)} cells as expected")
    lines += [f"  ! {c.client} -> {c.target}: expected {c.expected}, observed {c.observed}" for c in bad]
    if any(c.predicted is not None for c in cells):
        off = [c for c in cells if not c.as_predicted]
        lines.append(f"{len(cells) - len(off)}/{len(cells)} cells as the model predicted")
        lines += [f"  ~ {c.client} -> {c.target}: predicted {c.predicted}, observed {c.observed}" for c in off]
    return "\n".join(lines)
