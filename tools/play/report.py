"""report.html: a run's results as a person would rather look at them (issue 12).

Written into every run's results directory beside summary.json, from it and the files
there: each phase's matrix coloured by outcome (a mismatched cell outlined, with what was
expected and, where the scenario predicts, what the model predicted), a legend of the
outcome words, the charts, what the state saw (the surveillance table), and links to the
pcaps and logs. One static file, no script and nothing fetched, ready to attach to a lab
report; ``python -m tools.play.report RESULTS_DIR`` writes it again.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import Any

from tools.gateway.surveillance import results_table
from tools.play.matrix import CATEGORIES, category

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; font-size: 0.9em; }
th { background: #f2f2f2; text-align: left; }
td.cell { font-family: monospace; white-space: nowrap; }
td.ok { background: #d9f2d9; } td.mitm { background: #ead9f2; } td.slow { background: #fff0c2; }
td.dns, td.tcp, td.http, td.diff, td.blk, td.down { background: #f7d4d4; } td.unknown { background: #e6e6e6; }
td.mismatch { outline: 3px solid #c00; outline-offset: -3px; }
span.swatch { display: inline-block; width: 1em; height: 1em; vertical-align: middle; border: 1px solid #999; }
pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
"""


def css_class(outcome: str) -> str:
    code = CATEGORIES.get(category(outcome), ("?", ""))[0]
    return "unknown" if code == "?" else code


def phase_table(phase: dict[str, Any], labels: dict[str, str]) -> str:
    """One phase's matrix; a client's label (what it stands for) under its name."""
    cells = phase["cells"]
    clients = list(dict.fromkeys(c["client"] for c in cells))
    targets = list(dict.fromkeys(c["target"] for c in cells))
    by_key = {(c["client"], c["target"]): c for c in cells}

    def column(client: str) -> str:
        label = f"<br><small>{html.escape(labels[client])}</small>" if client in labels else ""
        return f"<th>{html.escape(client)}{label}</th>"

    rows = ["<tr><th>target</th>" + "".join(column(c) for c in clients) + "</tr>"]
    for target in targets:
        tds = []
        for client in clients:
            c = by_key[client, target]
            classes = ["cell", css_class(c["observed"])] + ([] if c["match"] else ["mismatch"])
            note = f"expected {c['expected']}" + (f"; predicted {c['predicted']}" if "predicted" in c else "")
            tds.append(
                f'<td class="{" ".join(classes)}" data-client="{html.escape(client)}" '
                f'data-target="{html.escape(target)}" title="{html.escape(note)}">{html.escape(c["observed"])}'
                + ("" if c["match"] else f"<br><small>expected {html.escape(c['expected'])}</small>")
                + "</td>"
            )
        rows.append(f"<tr><th>{html.escape(target)}</th>{''.join(tds)}</tr>")
    matched = sum(c["match"] for c in cells)
    when = phase.get("time") or phase.get("at", "")
    head = f"<h2>Phase {html.escape(phase['name'])} <small>({html.escape(str(when))})</small></h2>"
    dead = "".join(
        f"<p><b>censor {html.escape(k)} died:</b> {html.escape(v)}</p>"
        for k, v in phase.get("dead_censors", {}).items()
    )
    return f"{head}{dead}<table>{''.join(rows)}</table><p>{matched}/{len(cells)} cells as expected</p>"


def legend() -> str:
    rows = "".join(
        f'<tr><td class="cell {css_class(word)}"><span class="swatch"></span> {html.escape(word)}</td>'
        f"<td>{html.escape(meaning)}</td></tr>"
        for word, (_, meaning) in CATEGORIES.items()
    )
    return f"<h2>Outcomes</h2><table><tr><th>outcome</th><th>meaning</th></tr>{rows}</table>"


def files(results: Path) -> str:
    links = [p for p in sorted(results.glob("*.pcap"))] + [results / "measurements.jsonl", results / "summary.json"]
    links += sorted((results / "logs").glob("*")) if (results / "logs").is_dir() else []
    items = "".join(
        f'<li><a href="{html.escape(str(p.relative_to(results)))}">{html.escape(str(p.relative_to(results)))}</a></li>'
        for p in links
        if p.exists()
    )
    return f"<h2>Captures and logs</h2><ul>{items}</ul>"


def render(results: Path, summary: dict[str, Any]) -> str:
    title = f"kzlab: {summary.get('scenario', results.name)}"
    verdict = "every cell matched" if summary.get("matched") else "NOT every cell matched"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(summary.get('description', ''))}</p>",
        f"<p id='verdict'><b>{verdict}</b>; run {html.escape(str(summary.get('run', '')))}, "
        f"topology {html.escape(str(summary.get('topology', '')))}, started {html.escape(str(summary.get('started')))}"
        "</p>",
    ]
    if summary.get("error"):
        parts.append(f"<p><b>error:</b> {html.escape(summary['error'])}</p>")
    parts += [phase_table(p, summary.get("client_labels", {})) for p in summary.get("phases", [])]
    parts.append(legend())
    parts += [f"<h2>{html.escape(p.stem)}</h2><img src='{html.escape(p.name)}'>" for p in sorted(results.glob("*.png"))]
    if (results / "surveillance.jsonl").exists():
        parts.append(f"<h2>What the state saw</h2><pre>{html.escape(results_table(results))}</pre>")
    if summary.get("sources"):
        parts.append(
            "<h2>Sources</h2><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in summary["sources"]) + "</ul>"
        )
    parts += [files(results), "</body></html>"]
    return "\n".join(parts) + "\n"


def write(results: Path, summary: dict[str, Any]) -> Path:
    path = results / "report.html"
    path.write_text(render(results, summary))
    return path


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "summary.json").is_file():
        print("kzlab: error: give a run's results directory (one holding summary.json)", file=sys.stderr)
        return 2
    results = Path(argv[0])
    print(write(results, json.loads((results / "summary.json").read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
