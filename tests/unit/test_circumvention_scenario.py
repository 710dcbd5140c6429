"""The circumvention scenario's data (scenarios/circumvention.py): it validates against
kz_isp with the circumvention servers, every method of the registry has a row, every cell
has a reason, the outcomes follow the mechanisms the issue names, and docs/circumvention.md
is what the data renders."""

from __future__ import annotations

from scenarios import circumvention as c
from tools.basics.paths import REPO
from tools.circumvent.registry import METHODS


def test_it_validates_with_one_client_per_row() -> None:
    model = c.SCENARIO.validate()
    assert c.SCENARIO.client_list(model) == [row.client for row in c.ROWS]
    assert len({row.client for row in c.ROWS}) == len(c.ROWS)


def test_every_method_has_a_row_and_every_cell_a_reason() -> None:
    assert {row.method for row in c.ROWS if row.method} == set(METHODS)
    for column in c.COLUMNS:
        assert set(column.outcomes) <= set(c.BY_LABEL), column.name
        for row in c.ROWS:
            got, why = c.outcome(column, row.label)
            assert got and len(why) > 20, (column.name, row.label)


def column(name: str) -> c.Column:
    return next(col for col in c.COLUMNS if col.name == name)


def test_the_outcomes_follow_the_mechanisms() -> None:
    """Issue 11: encrypted DNS beats the resolver blocklist and DNS injection, not SNI
    reset or address blocking; fronting beats SNI filtering; nothing beats a border
    shutdown."""
    for way in ("DoH (Cloudflare)", "DoT (Google)"):
        assert c.outcome(column("resolver_blocklist"), way)[0] == "accessible"
        assert c.outcome(column("dns_injection"), way)[0] == "accessible"
        assert c.outcome(column("sni_reset"), way)[0] == "http-failure:connection_reset"
        assert c.outcome(column("fb_address"), way)[0] == "tcp_ip:generic_timeout_error"
    for name in ("sni_reset", "sni_drop", "sni_throttle"):
        assert c.outcome(column(name), "domain fronting")[0] == "accessible"
    for row in c.ROWS:
        assert c.outcome(column("border_shutdown"), row.label)[0] != "accessible", row.label


def test_the_docs_are_what_the_data_renders() -> None:
    assert (REPO / "docs" / "circumvention.md").read_text() == c.docs()
