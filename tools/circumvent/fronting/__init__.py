"""Domain fronting through a CDN edge (kazakhstan.md section 7): the TLS name (SNI) and
the address are an allowed site's of the same CDN, the blocked name travels only inside
the encrypted request, in its Host header, and the edge serves whichever site the Host
header names.

    server.py   the CDN edge: nginx holding the fronts' and the blocked customers' sites
    method.py   the client side: the host's probes reach a fronted name through its front
"""
