"""A scenario is data: a topology, a timeline of phases, a probe plan, and the expected
outcome of every (client, target) cell in every phase (DESIGN principle 3).

Phases play in order on the lab clock. A phase first applies its steps (attach or
detach a censor at a node), then every client probes every target, and each cell's
outcome is checked against the phase's expectation. ``validate()`` checks all of this
against the topology before anything is built, so bad input costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tools.basics.clock import parse_time
from tools.censors.base import CensorError
from tools.censors.registry import CENSORS
from tools.circumvent.method import MethodError
from tools.circumvent.registry import METHODS
from tools.gateway.national_ca import GENERATIONS
from tools.lab.steps import Step
from topologies import registry as topologies
from topologies.model import TopologyError, TopologyModel

PROBE_KINDS = frozenset({"web_connectivity", "urlgetter", "telegram", "facebook_messenger", "mtproto", "tor"})
MTPROTO_URL = re.compile(r"mtproto://\d{1,3}(\.\d{1,3}){3}:\d{1,5}")
OUTCOME = re.compile(
    r"^(accessible|tls_mitm|throttled|(dns|tcp_ip|http-failure|http-diff|down|tunnel-failure):[a-z0-9_]+"
    r"|blocked:[a-z0-9_,]+|unknown:[a-z0-9_]+)$"
)


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the field at fault."""


@dataclass(frozen=True)
class Target:
    """A column of the matrix: what the clients probe."""

    name: str
    kind: str = "web_connectivity"
    url: str | None = None

    @classmethod
    def web(cls, domain: str, scheme: str = "https") -> Target:
        """web_connectivity of the site's front page; named by the domain (https) or URL."""
        name = domain if scheme == "https" else f"{scheme}://{domain}"
        return cls(name, "web_connectivity", f"{scheme}://{domain}/")

    @classmethod
    def fetch(cls, domain: str) -> Target:
        """OONI's urlgetter on the site's HTTPS front page: no control helper needed, so
        it measures from inside a country cut off from the world (tools/probes/urlgetter.py)."""
        return cls(domain, "urlgetter", f"https://{domain}/")

    @classmethod
    def mtproto(cls, name: str, address: str, port: int = 443) -> Target:
        """A client's first MTProto round trip to one endpoint (tools/probes/telegram.py)."""
        return cls(name, "mtproto", f"mtproto://{address}:{port}")


ACTIONS = frozenset({"attach", "detach", "install_root", "circumvent", "uncircumvent"})


@dataclass(frozen=True)
class Phase:
    """A stretch of the lab clock: its steps, then probes, then expectations.

    ``expect`` maps (client, target) to an outcome; every other cell expects
    ``default``. ``at`` labels the phase's place on the modelled timeline; ``time`` is
    its moment (ISO-8601 UTC) when the scenario plays on the lab clock (clock.py).
    ``targets`` narrows what this phase probes (by target name); empty means all."""

    name: str
    at: str = "t0"
    time: str = ""
    steps: tuple[Step, ...] = ()
    default: str = "accessible"
    expect: dict[tuple[str, str], str] = field(default_factory=dict)
    targets: tuple[str, ...] = ()

    def expected(self, client: str, target: str) -> str:
        return self.expect.get((client, target), self.default)


@dataclass(frozen=True)
class Observation:
    """How the world outside sees the country at each phase (tools/observe): the routes
    ``collector`` (a BGP router abroad) holds to the country's blocks, and the share of the
    country's addresses that answer a ping sweep from ``vantage``."""

    vantage: str = "abroad"
    collector: str = "transit"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    phases: tuple[Phase, ...]
    targets: tuple[Target, ...]
    topology: str | Callable[..., TopologyModel] = "kz_isp"  # a registered name, or a builder
    topology_params: dict[str, Any] = field(default_factory=dict)
    clients: tuple[str, ...] = ()  # default: every subscriber and vantage point
    client_labels: dict[str, str] = field(default_factory=dict)  # what a client stands for (e.g. its method)
    capture: tuple[tuple[str, str], ...] = (("gw", "core"), ("gw", "border"))
    sources: str = ""
    observe: Observation | None = None
    predict: bool = False  # predict every cell from the model (tools/play/predict.py) and compare

    @property
    def timed(self) -> bool:
        return any(p.time for p in self.phases)

    def build_topology(self) -> TopologyModel:
        try:
            if callable(self.topology):
                return self.topology(**self.topology_params).validate()
            return topologies.build(self.topology, **self.topology_params)
        except (TopologyError, TypeError, ValueError, KeyError) as exc:
            raise ScenarioError(f"scenario {self.name!r}: topology: {exc}") from None

    def client_list(self, model: TopologyModel) -> list[str]:
        return list(self.clients) or model.clients()

    def validate(self) -> TopologyModel:
        """Check every name against the topology; returns the built model."""
        where = f"scenario {self.name!r}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name or ""):
            raise ScenarioError(f"{where}: name must be lower-case letters, digits and _")
        model = self.build_topology()
        clients = self.client_list(model)
        for c in clients:
            if c not in model.graph or model.role(c) not in ("subscriber", "vantage"):
                raise ScenarioError(f"{where}: client {c!r} is not a client of {model.name}")
        if not self.targets:
            raise ScenarioError(f"{where}: no targets")
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ScenarioError(f"{where}: duplicate target names")
        for t in self.targets:
            if t.kind not in PROBE_KINDS:
                raise ScenarioError(f"{where}: target {t.name!r}: unknown kind {t.kind!r}")
            if t.kind in ("web_connectivity", "urlgetter") and not (t.url or "").startswith(("http://", "https://")):
                raise ScenarioError(f"{where}: target {t.name!r}: needs an http(s) url")
            if t.kind == "mtproto" and not MTPROTO_URL.fullmatch(t.url or ""):
                raise ScenarioError(f"{where}: target {t.name!r}: needs an mtproto://ADDRESS:PORT url")
        if not self.phases:
            raise ScenarioError(f"{where}: no phases")
        for node, neighbour in self.capture:
            if not model.graph.has_edge(node, neighbour):
                raise ScenarioError(f"{where}: capture: no link {node}-{neighbour}")
        attached: dict[str, str] = {}  # key -> "attach" (a censor) or "circumvent" (a method)
        for phase in self.phases:
            attached = self._validate_phase(phase, model, clients, set(names), attached)
        self._validate_timeline(where)
        self._validate_observation(where, model)
        if self.predict:
            self._validate_prediction(where)
        return model

    def _validate_timeline(self, where: str) -> None:
        if not self.timed:
            return
        previous = None
        for phase in self.phases:
            if not phase.time:
                raise ScenarioError(f"{where}, phase {phase.name!r}: a timed scenario needs a time for every phase")
            try:
                moment = parse_time(phase.time)
            except ValueError as exc:
                raise ScenarioError(f"{where}, phase {phase.name!r}: time: {exc}") from None
            if previous is not None and moment < previous:
                raise ScenarioError(f"{where}, phase {phase.name!r}: time {phase.time} is before the phase before it")
            previous = moment

    def _validate_observation(self, where: str, model: TopologyModel) -> None:
        if self.observe is None:
            return
        vantage, collector = self.observe.vantage, self.observe.collector
        if vantage not in model.graph or model.role(vantage) != "vantage":
            raise ScenarioError(f"{where}: observe: {vantage!r} is not a vantage point of {model.name}")
        if collector not in model.graph or not model.speaks_bgp(collector):
            raise ScenarioError(f"{where}: observe: {collector!r} is not a BGP router of {model.name}")

    def _validate_prediction(self, where: str) -> None:
        for step in (s for p in self.phases for s in p.steps):
            if step.action == "attach" and not hasattr(CENSORS[step.censor], "effect"):
                raise ScenarioError(f"{where}: predict: censor {step.censor} has no model of its effect")
            if step.action in ("install_root", "circumvent"):
                raise ScenarioError(f"{where}: predict: {step.action} cannot be predicted")
        for t in self.targets:
            if t.kind != "urlgetter":
                raise ScenarioError(f"{where}: predict: target {t.name!r} is not a urlgetter target")

    def _validate_phase(
        self,
        phase: Phase,
        model: TopologyModel,
        clients: list[str],
        targets: set[str],
        attached: dict[str, str],
    ) -> dict[str, str]:
        where = f"scenario {self.name!r}, phase {phase.name!r}"
        for step in phase.steps:
            if step.action == "attach":
                if step.censor not in CENSORS:
                    raise ScenarioError(f"{where}: unknown censor {step.censor!r} ({sorted(CENSORS)})")
                if step.node not in model.graph or model.role(step.node) == "segment":
                    raise ScenarioError(f"{where}: censor {step.key!r}: no node {step.node!r}")
                if step.key in attached:
                    raise ScenarioError(f"{where}: censor {step.key!r} is already attached")
                try:
                    CENSORS[step.censor](**step.params)  # parameters are checked here
                except CensorError as exc:
                    raise ScenarioError(f"{where}: {exc}") from None
                attached = attached | {step.key: "attach"}
            elif step.action == "detach":
                if attached.get(step.key) != "attach":
                    raise ScenarioError(f"{where}: censor {step.key!r} is not attached")
                attached = {k: v for k, v in attached.items() if k != step.key}
            elif step.action == "circumvent":
                if step.method not in METHODS:
                    raise ScenarioError(f"{where}: unknown method {step.method!r} ({', '.join(sorted(METHODS))})")
                if step.node not in clients:
                    raise ScenarioError(f"{where}: method {step.key!r}: {step.node!r} is not a client")
                if step.key in attached:
                    raise ScenarioError(f"{where}: {step.key!r} is already in use")
                try:
                    METHODS[step.method](**step.params)  # parameters are checked here
                except MethodError as exc:
                    raise ScenarioError(f"{where}: {exc}") from None
                attached = attached | {step.key: "circumvent"}
            elif step.action == "uncircumvent":
                if attached.get(step.key) != "circumvent":
                    raise ScenarioError(f"{where}: method {step.key!r} is not switched on")
                attached = {k: v for k, v in attached.items() if k != step.key}
            elif step.action == "install_root":
                if step.node not in clients:
                    raise ScenarioError(f"{where}: install_root: {step.node!r} is not a client")
                if step.params.get("generation", "2019") not in GENERATIONS:
                    raise ScenarioError(f"{where}: install_root: unknown generation {step.params.get('generation')!r}")
            else:
                raise ScenarioError(f"{where}: unknown action {step.action!r}")
        for outcome in [phase.default, *phase.expect.values()]:
            if not OUTCOME.match(outcome):
                raise ScenarioError(f"{where}: {outcome!r} is not an outcome")
        for name in phase.targets:
            if name not in targets:
                raise ScenarioError(f"{where}: unknown target {name!r}")
        probed = set(phase.targets) or targets
        for client, target in phase.expect:
            if client not in clients or target not in probed:
                raise ScenarioError(f"{where}: expectation for unknown cell ({client}, {target})")
        return attached
