"""The CDN edge (service ``cdn_edge``): one nginx at one address holding several
customers' sites, each with its own certificate from the lab's web PKI.

nginx picks the certificate by the ClientHello's SNI and the site by the request's Host
header, as the CDN edges that allowed domain fronting did: a connection whose SNI is an
allowed front (pypi.org) and whose Host is a blocked customer (facebook.com) gets the
front's certificate and the blocked site's page. The sites are served as the lab serves
every site (tools/services/web.py), so a customer's page is the one its own server sends.
"""

from __future__ import annotations

from tools.services import web
from tools.services.base import ServiceContext
from tools.services.readiness import Readiness
from topologies.model import Service


def start(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    sites = (*service.params["fronts"], *service.params["customers"])
    return web.start(ctx, node, Service("web", {"sites": sites}))
