"""Per-student variants: the student id seeds every mystery of a lab, deterministically.

The seed is sha256 of ``"labN:" + id`` (never Python's ``hash()``, which changes between
processes), so the checker regenerates a student's variant from the id alone, and two
ids give independent draws.
"""

from __future__ import annotations

import hashlib
import random
import re

from labs.framework.errors import BadInput

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def student_id(text: str) -> str:
    """A student id as given, or BadInput naming what an id may hold."""
    if not STUDENT_ID.fullmatch(text or ""):
        raise BadInput(
            f"student id {text!r}: expected 1-64 letters, digits, '.', '_', '@' or '-', not starting with a sign"
        )
    return text


def rng(lab: int, student: str) -> random.Random:
    """The random source of ``student``'s variant of lab ``lab``."""
    digest = hashlib.sha256(f"lab{lab}:{student_id(student)}".encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))
