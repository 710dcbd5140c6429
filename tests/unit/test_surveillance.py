"""What the state sees (tools.gateway.surveillance) and the request logger of an intercepted
connection (tools.gateway.mitm.RequestLogger); the SYN options the device records to take
a connection over are tested in test_interceptor_hostile.py.

kazakhstan.md section 1: the interception certificate let the state read each
subscriber's traffic (1.10: decrypted and re-encrypted), the SNI being visible anyway
(1.2); the ISP resolver adds the names looked up.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from tools.gateway import surveillance
from tools.gateway.mitm import RequestLogger
from tools.gateway.surveillance import Log, read, resolver_queries, table

HOME1, HOME2 = "95.56.1.1", "95.56.1.2"


@pytest.fixture
def log(tmp_path: Path) -> Log:
    return Log(tmp_path / "device.jsonl")


def lines(log: Log) -> list[dict]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


# -- Log ---------------------------------------------------------------------------------


def test_log_writes_one_json_object_per_line(log: Log) -> None:
    """Each event is one JSON line with time, event and subscriber plus its own fields (section 1:
    the device reports each subscriber's activity)."""
    before = time.time()
    log.write("intercepted", HOME1, sni="facebook.com", server="157.240.0.35")
    log.write("request", HOME2, url="https://vk.com/", headers={"host": "vk.com"})
    after = time.time()
    records = lines(log)
    assert len(records) == 2
    first, second = records
    assert first["event"] == "intercepted" and first["subscriber"] == HOME1
    assert first["sni"] == "facebook.com" and first["server"] == "157.240.0.35"
    assert before - 0.001 <= first["time"] <= after + 0.001
    assert second == {
        "time": second["time"],
        "event": "request",
        "subscriber": HOME2,
        "url": "https://vk.com/",
        "headers": {"host": "vk.com"},
    }
    assert read(log.path) == records


def test_log_lines_stay_whole_under_threads(log: Log) -> None:
    """The device's threads write concurrently; every line is still one whole JSON object."""

    def writer(n: int) -> None:
        for i in range(50):
            log.write("passed", f"95.56.1.{n}", sni=f"site{i}.kz", reason="not a target", pad="x" * 500)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = lines(log)
    assert len(records) == 400
    assert {r["subscriber"] for r in records} == {f"95.56.1.{n}" for n in range(8)}


def test_read_missing_log_is_empty(tmp_path: Path) -> None:
    """Before the device logged anything there is nothing to read."""
    assert read(tmp_path / "none.jsonl") == []


# -- the ISP resolver's query log ---------------------------------------------------------

QUERY_LOG = "".join(
    f"30-Nov-2026 04:00:0{i}.000 {line}\n"
    for i, line in enumerate(
        [
            "client @0x7f1234567890 95.56.1.1#41234 (facebook.com): query: facebook.com IN A +E(0)K (92.46.0.53)",
            "client @0x7f1234567aa0 95.56.1.1#41235 (facebook.com): query: facebook.com IN AAAA +E(0)K (92.46.0.53)",
            "client @0x7f12345679b0 95.56.1.2#5353 (www.instagram.com): query: www.instagram.com IN A +E(0)K"
            " (92.46.0.53)",
            "general: info: managed-keys-zone: loaded serial 2",
            "client @0x7f1234567c00 95.56.1.2#5354 (mail.ru): query: mail.ru IN HTTPS +E(0)K (92.46.0.53)",
        ]
    )
)


def test_resolver_queries_parse_bind_9_18_lines(tmp_path: Path) -> None:
    """BIND 9.18 query-log lines give subscriber address, name and type; other lines are skipped."""
    path = tmp_path / "queries.log"
    path.write_text(QUERY_LOG)
    assert resolver_queries(path) == [
        {"event": "dns_query", "subscriber": HOME1, "host": "facebook.com", "type": "A"},
        {"event": "dns_query", "subscriber": HOME1, "host": "facebook.com", "type": "AAAA"},
        {"event": "dns_query", "subscriber": HOME2, "host": "www.instagram.com", "type": "A"},
        {"event": "dns_query", "subscriber": HOME2, "host": "mail.ru", "type": "HTTPS"},
    ]


def test_resolver_queries_without_log(tmp_path: Path) -> None:
    """A resolver that has not logged yet contributes nothing."""
    assert resolver_queries(tmp_path / "queries.log") == []


# -- table() -------------------------------------------------------------------------------


def parse_table_full(text: str) -> dict[str, tuple[int, int, int, str, str]]:
    """subscriber -> (DNS names, SNI names, full URLs, garden, example)."""
    header, *rows = text.splitlines()
    assert header.split() == ["subscriber", "names", "(DNS)", "names", "(SNI)", "full", "URLs", "garden", "example"]
    out = {}
    for row in rows:
        who, dns, sni, urls, garden, *example = row.split()
        out[who] = (int(dns), int(sni), int(urls), garden, " ".join(example))
    return out


def parse_table(text: str) -> dict[str, tuple[int, int, int, str]]:
    """subscriber -> (DNS names, SNI names, full URLs, example)."""
    return {who: (*row[:3], row[4]) for who, row in parse_table_full(text).items()}


def events(tmp_path: Path) -> list[dict]:
    path = tmp_path / "queries.log"
    path.write_text(QUERY_LOG)
    log = Log(tmp_path / "device.jsonl")
    log.write("intercepted", HOME1, sni="facebook.com")
    log.write("intercepted", HOME1, sni="facebook.com")  # the same name twice counts once
    log.write("passed", HOME1, sni="kaspi.kz", reason="not a target")
    log.write("request", HOME1, sni="facebook.com", method="GET", url="https://facebook.com/", headers={"host": "x"})
    log.write("request", HOME1, sni="facebook.com", method="GET", url="https://facebook.com/messages/t/42")
    log.write("rejected", HOME2, sni="www.instagram.com", reason="TLSV1_ALERT_UNKNOWN_CA")
    return resolver_queries(path) + read(log.path)


def test_table_counts_names_and_urls_per_subscriber(tmp_path: Path) -> None:
    """Per subscriber: distinct names looked up (DNS), distinct SNI names, and full URLs, the last only
    for intercepted connections (1.10); a URL is the example when there is one."""
    rows = parse_table(table(events(tmp_path)))
    assert rows == {
        HOME1: (1, 2, 2, "https://facebook.com/"),
        HOME2: (2, 1, 0, "www.instagram.com"),
    }


def test_table_maps_addresses_to_names(tmp_path: Path) -> None:
    """With a names map, rows are labelled by subscriber name instead of address."""
    rows = parse_table(table(events(tmp_path), {HOME1: "home1", HOME2: "home2"}))
    assert set(rows) == {"home1", "home2"}
    assert rows["home1"][:3] == (1, 2, 2)
    assert rows["home2"][:3] == (2, 1, 0)


def test_table_does_not_count_a_missing_sni_as_a_name(tmp_path: Path) -> None:
    """A flow passed because it carried no SNI (not TLS, or no server_name) revealed no name: the
    'names (SNI)' column counts names seen (1.2), so it stays 0 for such a subscriber."""
    log = Log(tmp_path / "device.jsonl")
    log.write("passed", HOME1, sni=None, server="1.1.1.1", reason="no TLS")
    log.write("passed", HOME1, sni=None, server="1.1.1.1", reason="no SNI")
    rows = parse_table(table(read(log.path)))
    assert rows[HOME1][:3] == (0, 0, 0)


def test_table_shows_the_walled_garden_state(tmp_path: Path) -> None:
    """The garden column shows a subscriber's last walled/released event, '-' when never walled
    (1.1, section 2: subscribers without the certificate were sent to the install page)."""
    log = Log(tmp_path / "device.jsonl")
    log.write("walled", HOME1, reason="rejected the national chain")
    log.write("walled", HOME2, reason="rejected the national chain")
    log.write("released", HOME2, reason="completed a handshake with the national chain")
    log.write("passed", "95.56.1.3", sni="kaspi.kz", reason="not a target")
    rows = parse_table_full(table(read(log.path)))
    assert {who: row[3] for who, row in rows.items()} == {HOME1: "walled", HOME2: "released", "95.56.1.3": "-"}


def test_results_table_merges_device_log_resolver_log_and_names(tmp_path: Path) -> None:
    """A results directory's device log, resolver query log and address names give the same table as
    merging them by hand (what an analyst at the ISP would read, section 1)."""
    expected = table(events(tmp_path), {HOME1: "home1"})
    (tmp_path / "device.jsonl").rename(tmp_path / "surveillance.jsonl")
    (tmp_path / "queries.log").rename(tmp_path / "resolver-queries.log")
    (tmp_path / "addresses.json").write_text(json.dumps({HOME1: "home1"}))
    assert surveillance.results_table(tmp_path) == expected
    assert parse_table(expected)["home1"][:3] == (1, 2, 2)


# -- RequestLogger (mitm.py) ---------------------------------------------------------------

GET = (
    b"GET /messages/t/42?x=1 HTTP/1.1\r\nHost: www.facebook.com\r\nUser-Agent: Firefox/68.0\r\nCookie: c_user=1\r\n\r\n"
)
BODY = b"a=1\r\n\r\nGET /not-a-request HTTP/1.1\r\nHost: evil\r\n\r\nb=2"
POST = (
    b"POST /login HTTP/1.1\r\nHost: www.facebook.com\r\nContent-Type: text/plain\r\n"
    + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
    + BODY
)
SECOND = b"GET /second HTTP/1.1\r\nHost: www.facebook.com\r\n\r\n"


def feed_in_chunks(logger: RequestLogger, data: bytes, rng: random.Random) -> None:
    pos = 0
    while pos < len(data):
        step = rng.randrange(1, 12)
        logger.feed(data[pos : pos + step])
        pos += step


def requests(log: Log) -> list[dict]:
    return [r for r in read(log.path) if r["event"] == "request"]


@pytest.mark.parametrize("seed", range(5))
def test_request_logger_records_method_url_headers(log: Log, seed: int) -> None:
    """A decrypted request head fed in arbitrary chunks is logged with method, full https URL and
    headers (section 1: the state saw full URLs and cookies of intercepted connections, 1.10)."""
    logger = RequestLogger(log, HOME1, "www.facebook.com")
    feed_in_chunks(logger, GET, random.Random(seed))
    [req] = requests(log)
    assert req["subscriber"] == HOME1
    assert req["sni"] == "www.facebook.com"
    assert req["method"] == "GET"
    assert req["url"] == "https://www.facebook.com/messages/t/42?x=1"
    assert req["headers"] == {"host": "www.facebook.com", "user-agent": "Firefox/68.0", "cookie": "c_user=1"}


def test_request_logger_pipelined_requests(log: Log) -> None:
    """Two pipelined requests in one segment are two log records, in order."""
    logger = RequestLogger(log, HOME1, "www.facebook.com")
    logger.feed(GET + SECOND)
    assert [r["url"] for r in requests(log)] == [
        "https://www.facebook.com/messages/t/42?x=1",
        "https://www.facebook.com/second",
    ]


@pytest.mark.parametrize("seed", [None, 0, 1, 2])
def test_request_logger_skips_bodies(log: Log, seed: int | None) -> None:
    """A Content-Length body is skipped even when it contains a blank line and something that looks
    like a request; the request after it is logged. Whole or in random chunks."""
    logger = RequestLogger(log, HOME1, "www.facebook.com")
    data = POST + SECOND
    if seed is None:
        logger.feed(data)
    else:
        feed_in_chunks(logger, data, random.Random(seed))
    reqs = requests(log)
    assert [(r["method"], r["url"]) for r in reqs] == [
        ("POST", "https://www.facebook.com/login"),
        ("GET", "https://www.facebook.com/second"),
    ]
    assert reqs[0]["headers"]["content-length"] == str(len(BODY))


def test_request_logger_without_host_uses_sni(log: Log) -> None:
    """A request without Host is attributed to the SNI the device intercepted on (1.2)."""
    logger = RequestLogger(log, HOME1, "vk.com")
    logger.feed(b"GET /feed HTTP/1.0\r\n\r\n")
    assert [r["url"] for r in requests(log)] == ["https://vk.com/feed"]


@pytest.mark.parametrize(
    "garbage",
    [
        bytes(range(256)) + b"\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
        b"hello\r\nworld\r\n\r\n",
        b"one two three four\r\n\r\n",
        b"\r\n\r\n",
    ],
)
def test_request_logger_ignores_garbage(log: Log, garbage: bytes) -> None:
    """Bytes without a request line are not logged as requests; a real request after them still is."""
    logger = RequestLogger(log, HOME1, "facebook.com")
    logger.feed(garbage)
    assert requests(log) == []
    logger.feed(SECOND)
    assert [r["url"] for r in requests(log)] == ["https://www.facebook.com/second"]


def test_request_logger_ignores_three_words_without_http_version(log: Log) -> None:
    """A head whose first line has three words but no HTTP version ("hello big world") is not an
    HTTP/1.1 request line and must not become a logged URL the subscriber never requested."""
    logger = RequestLogger(log, HOME1, "facebook.com")
    logger.feed(b"hello big world\r\n\r\n")
    assert requests(log) == []
