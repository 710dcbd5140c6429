"""The student's Mininet CLI in lab 4: Mininet's own, with the lab's commands.

    mininet> censors                                 the variant's censors and targets
    mininet> methods                                 the ways around, with their parameters
    mininet> circumvent home1 doh resolver=google    switch a method on in a subscriber
    mininet> probe home1 meduza.io                   the checker's probe (a site, or telegram)
    mininet> uncircumvent home1 doh                  switch it off
    mininet> circumvented                            what is on, where

A parameter is NAME=VALUE: a VALUE that reads as JSON is taken as JSON (true, 15,
'["facebook.com"]'), anything else as a string. Methods are switched on by the lab's own
process, as a scenario's ``circumvent`` step is (tools.lab.steps); one that does not come
up prints its one line and leaves nothing running; leaving the CLI switches every method
off. The probe is the checker's (replay.probe), with the options the subscriber's methods
ask for.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

from mininet.cli import CLI

from get_around_it.catalogue import TELEGRAM, describe
from get_around_it.replay import probe
from tools.basics.params import REQUIRED, ParameterError
from tools.basics.paths import REPO
from tools.circumvent.registry import METHODS
from tools.lab.lab import Lab, LabError
from tools.lab.session import Result
from tools.lab.steps import Step, apply
from tools.play.spec import Target


def parameters(words: list[str]) -> dict[str, Any]:
    """NAME=VALUE words as a method's parameters (ValueError naming a word without '=')."""
    params: dict[str, Any] = {}
    for word in words:
        name, equals, value = word.partition("=")
        if not equals or not name:
            raise ValueError(f"{word!r}: expected NAME=VALUE")
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params


def method_list() -> str:
    """Every method, what it does and its parameters (kind, default)."""
    lines = []
    for name, method in METHODS.items():
        lines.append(f"{name}: {method.what}")
        for field, spec in method.fields.items():
            default = "required" if spec.default is REQUIRED else f"default {json.dumps(spec.default)}"
            lines.append(f"    {field}={spec.kind.expects} ({default}): {spec.doc}")
    return "\n".join(lines)


class InLab:
    """The running lab as replay.probe uses it: its run directory, a command in a node,
    the node's probe options."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.rundir: Path = lab.rundir

    def run(self, node: str, command: str, timeout: float = 60) -> Result:
        proc = self.lab.host(node).popen(
            ["bash", "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(REPO)
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += "\n(timed out)"
        return Result(proc.returncode, out, err)

    def probe_options(self, node: str) -> dict[str, Any]:
        return self.lab.probe_options(node)


class LabCLI(CLI):
    """Mininet's CLI with lab 4's commands; it runs until the student leaves it."""

    def __init__(self, variant: dict[str, Any], lab: Lab, **kwargs: Any) -> None:
        self.variant, self.lab = variant, lab
        print(describe(variant) + "\nType 'help' for the lab's commands (censors, methods, circumvent, probe).")
        super().__init__(lab.net, **kwargs)

    def do_censors(self, _line: str) -> None:
        """censors: your variant's censors, their subscribers and targets."""
        print(describe(self.variant))

    def do_methods(self, _line: str) -> None:
        """methods: the ways around the lab offers and their parameters."""
        print(method_list())

    def do_circumvent(self, line: str) -> None:
        """circumvent NODE METHOD [NAME=VALUE ...]: switch a method on in a subscriber."""
        words = shlex.split(line)
        if len(words) < 2:
            print("kzlab: usage: circumvent NODE METHOD [NAME=VALUE ...] (methods lists them)")
            return
        node, method = words[:2]
        try:
            if method not in METHODS:
                raise ValueError(f"no method {method!r}: one of {', '.join(METHODS)}")
            step = Step("circumvent", f"{node}-{method}", node=node, method=method, params=parameters(words[2:]))
            apply(self.lab, step)
        except (ParameterError, LabError, ValueError, KeyError) as exc:
            print(f"kzlab: {' '.join(str(exc).split())}")
            return
        print(f"kzlab: {method} is on in {node}")

    def do_uncircumvent(self, line: str) -> None:
        """uncircumvent NODE METHOD: switch it off again."""
        key = "-".join(shlex.split(line))
        if key not in self.lab.methods:
            print(f"kzlab: nothing on as {line.strip()!r} (circumvented lists what is)")
            return
        apply(self.lab, Step("uncircumvent", key))
        print(f"kzlab: {line.strip()} is off")

    def do_circumvented(self, _line: str) -> None:
        """circumvented: the methods switched on, by node."""
        for key, node in self.lab.method_nodes.items():
            print(f"{node}: {self.lab.methods[key].name} {json.dumps(self.lab.methods[key].params)}")

    def do_probe(self, line: str) -> None:
        """probe NODE TARGET: the checker's probe of a site (or telegram) from NODE."""
        words = shlex.split(line)
        if len(words) != 2:
            print("kzlab: usage: probe NODE TARGET (a site such as vk.com, or telegram)")
            return
        node, name = words
        what = Target(TELEGRAM, "telegram") if name == TELEGRAM else Target.web(name)
        try:
            record = probe(InLab(self.lab), node, what)
        except (RuntimeError, KeyError) as exc:
            print(f"kzlab: {exc}")
            return
        root = record.get("test_keys", {}).get("tls_chain_root")
        print(f"{node} -> {name}: {record['kzlab']['outcome']}" + (f" (chain ends at {root})" if root else ""))
