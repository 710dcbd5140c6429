"""Web sites served by nginx at the sites' own addresses inside the lab.

Each site answers HTTPS with a certificate carrying the real site's names, sends HSTS
where the real site does, redirects plain HTTP to HTTPS (301), and serves a page whose
title and heading name the site, so a probe can compare bodies and titles with the
control, as OONI's web_connectivity does. ``/bulk`` serves 8 MiB for throughput tests.
"""

from __future__ import annotations

import os
from collections import defaultdict
from html import escape
from pathlib import Path

from tools.services.base import ServiceContext
from tools.services.readiness import Readiness, tcp_ready
from topologies.internet import Site
from topologies.model import Service

HSTS = "max-age=31536000; includeSubDomains"


def page(site: Site) -> str:
    """The page a site serves: it names the site in its title, heading and text."""
    paragraphs = "".join(
        f"<p>{escape(site.domain)} is served inside the kzlab sealed network; paragraph {i} "
        "of a page long enough for body-length comparison against the control.</p>"
        for i in range(1, 9)
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{escape(site.title)}</title>'
        f"</head><body><h1>{escape(site.domain)}</h1>{paragraphs}</body></html>"
    )


BULK_BYTES = 8 << 20


def bulk_file(ctx: ServiceContext) -> Path:
    """One file of random bytes per run, served by every site at /bulk (throughput
    benchmarks): random, so no compression or caching on the way can flatter a figure."""
    path = ctx.rundir / "bulk.bin"
    if not path.exists():
        path.write_bytes(os.urandom(BULK_BYTES))
    return path


def nginx_config(ctx: ServiceContext, node: str, sites: tuple[Site, ...]) -> str:
    """An nginx.conf serving ``sites``; keys and certificates are issued here."""
    work = ctx.workdir(node, "web")
    bulk = bulk_file(ctx)
    certs: dict[tuple[str, ...], str] = {}
    by_listener: dict[tuple[str, tuple[str, ...]], list[Site]] = defaultdict(list)
    for site in sites:
        if site.cert not in certs:
            stem = f"cert{len(certs)}"
            ctx.web_ca.write_leaf(work, stem, site.cert)
            certs[site.cert] = stem
        by_listener[(site.address, site.cert)].append(site)
    servers = []
    for (address, cert), group in by_listener.items():
        stem = certs[cert]
        for site in group:
            body = page(site).replace("\\", "\\\\").replace("'", "\\'")
            hsts = f'add_header Strict-Transport-Security "{HSTS}" always;' if site.hsts else ""
            servers.append(
                f"""
  server {{
    listen {address}:443 ssl;
    server_name {site.domain};
    ssl_certificate {work}/{stem}.crt;
    ssl_certificate_key {work}/{stem}.key;
    {hsts}
    location / {{ default_type text/html; return 200 '{body}'; }}
    location = /bulk {{ default_type application/octet-stream; alias {bulk}; }}
  }}
  server {{
    listen {address}:80;
    server_name {site.domain};
    location / {{ return 301 https://$host$request_uri; }}
  }}"""
            )
    return f"""daemon off;
master_process on;
worker_processes 1;
user root;
pid {work}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
  access_log {work}/access.log;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  server_names_hash_bucket_size 128;
  ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
  server_tokens off;
{"".join(servers)}
}}
"""


def start(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    sites: tuple[Site, ...] = service.params["sites"]
    conf = ctx.workdir(node, "web") / "nginx.conf"
    conf.write_text(nginx_config(ctx, node, sites))
    ctx.spawn(node, "web", ["nginx", "-c", str(conf), "-e", "stderr"], early=True)  # binds the sites' addresses
    addresses = sorted({s.address for s in sites})
    return [tcp_ready(node, f"https on {a}", a, 443) for a in addresses]
