"""Building blocks for scenario data: the usual targets, and expectations over many cells."""

from __future__ import annotations

from collections.abc import Iterable

from tools.play.spec import Target

REJECTED = "http-failure:ssl_unknown_authority"


def web_targets(*domains: str, http: Iterable[str] = ("facebook.com",), telegram: bool = True,
                messenger: bool = True) -> tuple[Target, ...]:  # fmt: skip
    """HTTPS front pages of ``domains``, plain-HTTP ones of ``http``, and OONI's telegram and
    facebook_messenger tests."""
    out = [Target.web(d) for d in domains] + [Target.web(d, scheme="http") for d in http]
    if telegram:
        out.append(Target("telegram", "telegram"))
    if messenger:
        out.append(Target("facebook_messenger", "facebook_messenger"))
    return tuple(out)


def cells(clients: Iterable[str], targets: Iterable[str], outcome: str) -> dict[tuple[str, str], str]:
    """The same expected ``outcome`` for every (client, target) pair."""
    targets = list(targets)
    return {(c, t): outcome for c in clients for t in targets}


def walled(clients: Iterable[str], https_targets: Iterable[str]) -> dict[tuple[str, str], str]:
    """Subscribers in the interception device's walled garden: every HTTPS name that
    crosses the device fails, plain HTTP shows the portal's stub page, web.telegram.org fails."""
    clients = list(clients)
    return (
        cells(clients, https_targets, REJECTED)
        | cells(clients, ["http://facebook.com"], "http-diff:none")
        | cells(clients, ["telegram"], "blocked:telegram_web")
    )
