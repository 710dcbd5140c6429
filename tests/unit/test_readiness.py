"""What counts as a DNS server's readiness: an answer with an address, nothing less.

The responses are made by dnspython (as a server would send them), and cut or mangled
by hand: the lab's readiness check reads them without a DNS library.
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from tools.services.readiness import has_address


def response(*records: str, rcode: int = dns.rcode.NOERROR) -> bytes:
    query = dns.message.make_query("facebook.com", "A")
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    for text in records:
        name, rtype, value = text.split()
        reply.answer.append(dns.rrset.from_text(name, 300, "IN", rtype, value))
    return reply.to_wire()


def test_an_address_in_the_answer_is_ready() -> None:
    assert has_address(response("facebook.com. A 157.240.241.35"))


def test_an_address_after_a_cname_is_ready() -> None:
    wire = response("facebook.com. CNAME star.facebook.com.", "star.facebook.com. A 157.240.241.35")
    assert has_address(wire)


@pytest.mark.parametrize(
    "wire",
    [
        response(),  # no answer yet (a resolver whose upstream is not up)
        response(rcode=dns.rcode.SERVFAIL),
        response(rcode=dns.rcode.NXDOMAIN),
        response("facebook.com. CNAME star.facebook.com."),  # no address
        response("facebook.com. TXT hello"),
    ],
    ids=["empty", "servfail", "nxdomain", "cname-only", "txt"],
)
def test_no_address_is_not_ready(wire: bytes) -> None:
    assert not has_address(wire)


def test_a_query_is_not_an_answer() -> None:
    assert not has_address(dns.message.make_query("facebook.com", "A").to_wire())


def test_cut_or_lying_responses_are_not_ready() -> None:
    """Every prefix of a good response, and counts that claim more than is there."""
    good = response("facebook.com. A 157.240.241.35")
    for end in range(len(good)):
        assert not has_address(good[:end]), end
    lying = bytearray(response())
    lying[7] = 5  # five answers announced, none sent
    assert not has_address(bytes(lying))
