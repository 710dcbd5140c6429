"""The device's spare leaf keys (tools/gateway/national_ca.py SpareKeys): made ahead in
the background, each handed out once, RSA-2048 with exponent 3 (kazakhstan.md 1.7), and
every host still gets a key of its own."""

from __future__ import annotations

import time

from tools.gateway.national_ca import QAZNET_2019, NationalCA, SpareKeys


def numbers(key: object) -> tuple[int, int, int]:
    public = key.public_key().public_numbers()  # type: ignore[attr-defined]
    return public.n, public.e, key.key_size  # type: ignore[attr-defined]


def test_spares_are_made_ahead_and_handed_out_once() -> None:
    spares = SpareKeys(2)
    deadline = time.monotonic() + 60
    while not spares.ready.full():
        assert time.monotonic() < deadline, "the spare keys were not made"
        time.sleep(0.05)
    keys = [spares.take() for _ in range(3)]  # two spares, then one made on the spot
    assert len({numbers(k)[0] for k in keys}) == 3
    assert all(numbers(k)[1:] == (3, 2048) for k in keys)


def test_each_host_gets_its_own_key_and_keeps_it() -> None:
    ca = NationalCA.create(QAZNET_2019)
    first, second = ca.host_key("facebook.com"), ca.host_key("vk.com")
    assert numbers(first)[0] != numbers(second)[0]
    assert ca.host_key("facebook.com") is first
