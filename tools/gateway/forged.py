"""The TLS server contexts that serve forged leaves, one per real certificate, made once.

Forging a leaf makes a fresh RSA-2048 key for its host (kazakhstan.md 1.7), about 0.1 s:
it happens in the worker thread that decided to intercept, never on the packet loop.
Each real certificate has one future: the first worker to need it forges, the others
wait on that future, and the loop is handed a finished context with the decision. The
cache keeps the ``limit`` most recently used contexts.
"""

from __future__ import annotations

import ssl
import threading
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tools.gateway.national_ca import NationalCA
from tools.services.pki import key_pem, pem, write_private

LIMIT = 1024


class ForgedContexts:
    def __init__(self, ca: NationalCA, workdir: Path, limit: int = LIMIT) -> None:
        self.ca, self.workdir, self.limit = ca, workdir, limit
        self.futures: OrderedDict[bytes, Future[ssl.SSLContext]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, real: x509.Certificate) -> ssl.SSLContext:
        """The context serving the forged leaf for ``real``: forged here, or awaited from
        the thread forging it. Blocks: call it from a worker."""
        fp = real.fingerprint(hashes.SHA256())
        with self.lock:
            future = self.futures.get(fp)
            mine = future is None
            if future is None:
                future = self.futures[fp] = Future()
                while len(self.futures) > self.limit:
                    self.futures.popitem(last=False)
            else:
                self.futures.move_to_end(fp)
        if not mine:
            return future.result()
        try:
            future.set_result(self._forge(real, fp))
        except BaseException as exc:
            with self.lock:
                if self.futures.get(fp) is future:
                    del self.futures[fp]  # the next connection tries again
            future.set_exception(exc)
            raise
        return future.result()

    def _forge(self, real: x509.Certificate, fp: bytes) -> ssl.SSLContext:
        leaf, key = self.ca.forge(real)
        base = self.workdir / fp.hex()[:16]
        base.with_suffix(".crt").write_bytes(pem(leaf) + self.ca.chain_pem())
        write_private(base.with_suffix(".key"), key_pem(key))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(base.with_suffix(".crt"), base.with_suffix(".key"))
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx
