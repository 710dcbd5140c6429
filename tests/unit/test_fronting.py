"""Domain fronting without a lab: the CDN edge in the model (its fronts published at its
address, its blocked customers not), the method's parameters and what it asks of the
probes, and the edge's nginx configuration (a certificate per customer, a site per Host)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.circumvent.fronting import server
from tools.circumvent.fronting.method import edge_sites
from tools.circumvent.method import MethodError
from tools.circumvent.registry import METHODS
from tools.services.base import ServiceContext
from tools.services.pki import CertificateAuthority
from topologies import kz_isp
from topologies.circumvention import CDN_ADDRESS
from topologies.model import TopologyModel


@pytest.fixture(scope="module")
def model() -> TopologyModel:
    return kz_isp.build(circumvention=True)


def test_the_edge_holds_fronts_and_blocked_customers_at_one_address(model: TopologyModel) -> None:
    records = model.zone_records()
    assert records["pypi.org"] == records["cdn.sstatic.net"] == {CDN_ADDRESS}
    assert records["facebook.com"] == {"157.240.241.35"}  # a customer's name still leads to its own server
    assert model.owner(CDN_ADDRESS) == model.owner("151.101.9.9") == "cdn"
    assert {"facebook.com", "rus.azattyq.org", "pypi.org"} <= edge_sites(model, "pypi.org")
    assert edge_sites(model, "facebook.com") is None  # a customer is not a front
    assert edge_sites(kz_isp.build(), "pypi.org") is None  # no edge without the flag


def test_the_method_asks_the_probes_to_front(model: TopologyModel) -> None:
    method = METHODS["fronting"](fronted=["facebook.com", "www.facebook.com"])
    assert method.probe_options() == {"fronts": {"facebook.com": "pypi.org", "www.facebook.com": "pypi.org"}}
    assert METHODS["fronting"](front="cdn.sstatic.net", fronted=["instagram.com"]).params["front"] == "cdn.sstatic.net"
    with pytest.raises(MethodError, match=r"^method 'fronting': parameter 'fronted' expects a list of one or more"):
        METHODS["fronting"](fronted=[])
    with pytest.raises(MethodError, match=r"^method 'fronting': parameter 'front' expects a DNS name"):
        METHODS["fronting"](front="pypi org", fronted=["facebook.com"])


def test_the_edge_picks_the_certificate_by_sni_and_the_site_by_host(tmp_path: Path, model: TopologyModel) -> None:
    """One nginx server per site on the edge's one address, each with its own name and
    certificate: nginx serves the site the Host header names over whichever certificate
    the SNI chose, which is what lets a front carry a blocked customer."""
    ctx = ServiceContext(model, net=None, rundir=tmp_path, named_dir=tmp_path, web_ca=CertificateAuthority.new_root())
    (service,) = model.graph.nodes["cdn"]["services"]
    checks = server.start(ctx, "cdn", service)
    assert [c.what for c in checks] == [f"https on {CDN_ADDRESS}"]
    conf = (tmp_path / "services" / "cdn-web" / "nginx.conf").read_text()
    names = re.findall(rf"listen {re.escape(CDN_ADDRESS)}:443 ssl;\s+server_name (\S+);", conf)
    assert names == [
        "pypi.org",
        "cdn.sstatic.net",
        "facebook.com",
        "www.facebook.com",
        "instagram.com",
        "rus.azattyq.org",
    ]
    assert "facebook.com (kzlab)" in conf  # the customer's own page
    assert [launch.argv[0] for launch in ctx.launches] == ["nginx"]
