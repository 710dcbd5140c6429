"""Real bytes for the unit tests: what Python's OpenSSL client sends first."""

from tools.dpi.tls import client_hello

__all__ = ["client_hello"]
