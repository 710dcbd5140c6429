"""A real browser as a probe: Debian's headless Chromium loading pages inside a lab host.

What a subscriber saw in 2019 (kazakhstan.md 1.11): without the national root, an
intercepted site failed with a certificate error and, the sites using HSTS, the warning
could not be clicked through. This probe loads URLs in one fresh Chromium profile and
reports for each whether the page loaded, the net error (``net::ERR_...``), the title,
the certificate chain Chromium built (leaf first, up to the root it trusted, or as far
as it got), and whether the certificate warning offered "Proceed" (overridable).

    python -m tools.probes.browser https://facebook.com/ [URL ...] [--json] [--profile DIR] [--home DIR]

Run it inside a lab host (``lab.run("home1", ...)`` or the Mininet CLI): Chromium then
uses the host's network, resolver (``/etc/resolv.conf``) and NSS database
(``$HOME/.pki/nssdb``, Chromium's only trust store for local roots on Linux). When the
inherited ``$HOME`` is not the host's own (``LabSession.run`` passes the lab process's,
``/root``), the host's home is found from its private ``/etc/ssl/certs`` mount.

Chromium is driven over the DevTools protocol on ``--remote-debugging-pipe`` (fds 3 and
4, NUL-separated JSON; stdlib only). The chain is the ``certificate`` list of
``Security.visibleSecurityStateChanged``; "overridable" is the certificate interstitial's
own ``loadTimeDataRaw.overridable`` (its "Proceed to ... (unsafe)" link exists only then).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import fcntl
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

CHROMIUM = "/usr/bin/chromium"
# Features that would make Chromium talk to anything but the pages asked for.
DISABLED_FEATURES = (
    "AutofillServerCommunication",
    "CertificateTransparencyComponentUpdater",
    "DialMediaRouteProvider",
    "DnsOverHttps",
    "HttpsUpgrades",
    "InterestFeedContentSuggestions",
    "MediaRouter",
    "NetworkTimeServiceQuerying",  # clients2.google.com/time
    "OptimizationHints",
    "Translate",
)
# Google services this Chromium still calls whatever the flags (GAIA's ListAccounts, an
# on-demand component update) or might: resolved to "not found" inside Chromium, so no
# query for them reaches the lab's resolvers. None of them is a lab site.
UNRESOLVED = ("accounts.google.com", "update.googleapis.com", "clients2.google.com", "connectivitycheck.gstatic.com")
# A fresh profile's preferences: no captive-portal probe (connectivitycheck.gstatic.com)
# when a certificate error is shown.
PREFERENCES = {"alternate_error_pages": {"enabled": False}}
FLAGS = (
    "--headless",
    "--no-sandbox",  # runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",  # /dev/shm is small in containers
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-pings",
    "--dns-prefetch-disable",
    "--password-store=basic",
    "--use-mock-keychain",
    f"--disable-features={','.join(DISABLED_FEATURES)}",
    f"--host-resolver-rules={', '.join(f'MAP {name} ~NOTFOUND' for name in UNRESOLVED)}",
    "--remote-debugging-pipe",
)
# Read in the page once it has loaded: the certificate interstitial defines loadTimeDataRaw.
PAGE_STATE = """JSON.stringify({
  url: location.href, title: document.title,
  interstitial: typeof window.loadTimeDataRaw === 'object' && loadTimeDataRaw.type === 'SSL',
  overridable: typeof window.loadTimeDataRaw === 'object' ? loadTimeDataRaw.overridable : null,
  proceedLink: document.getElementById('proceed-link') !== null,
  warning: typeof window.loadTimeDataRaw === 'object' ? loadTimeDataRaw.finalParagraph : null,
})"""
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36


class BrowserError(RuntimeError):
    pass


@dataclass
class PageLoad:
    """What Chromium made of one URL."""

    url: str
    loaded: bool = False
    error: str | None = None  # net::ERR_... of the main document, or "timeout"
    title: str | None = None
    final_url: str | None = None
    status: int | None = None
    chain: list[dict[str, str]] = field(default_factory=list)  # leaf first, as Chromium built it
    interstitial: bool = False  # Chromium showed its certificate warning
    overridable: bool | None = None  # the warning offered "Proceed" (None: no warning)
    warning: str | None = None  # the warning's last paragraph (says so when HSTS forbids proceeding)
    seconds: float = 0.0

    @property
    def root(self) -> str | None:
        """The common name of the chain's last certificate."""
        return common_name(self.chain[-1]["subject"]) if self.chain else None


def common_name(rfc4514: str) -> str:
    m = re.search(r"(?:^|,)CN=((?:\\.|[^,])*)", rfc4514)
    return m.group(1).replace("\\", "") if m else rfc4514


def host_home() -> Path:
    """This lab host's own home (holding its NSS db, ``.pki/nssdb``), else ``$HOME``.

    A lab host has ``<run>/hosts/<node>/certs`` bind-mounted on ``/etc/ssl/certs`` and
    its home at ``<run>/hosts/<node>/home``; the mount is matched by device and inode."""
    run_dir = os.environ.get("KZLAB_RUN_DIR")
    if run_dir:
        with contextlib.suppress(OSError):
            mine = os.stat("/etc/ssl/certs")
            for certs in Path(run_dir).glob("hosts/*/certs"):
                st = certs.stat()
                if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                    return certs.parent / "home"
    return Path(os.environ.get("HOME", "/root"))


def describe_chain(der_b64: list[str]) -> list[dict[str, str]]:
    certs = [x509.load_der_x509_certificate(base64.b64decode(item)) for item in der_b64]
    return [{"subject": c.subject.rfc4514_string(), "issuer": c.issuer.rfc4514_string()} for c in certs]


def _strip_tags(html: str | None) -> str | None:
    return re.sub(r"<[^>]+>", "", html).strip() if html else None


def _process_tree() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    return children


def _descendants(roots: set[int]) -> set[int]:
    """``roots`` and every process below them."""
    children = _process_tree()
    found: set[int] = set()
    todo = list(roots)
    while todo:
        p = todo.pop()
        if p not in found:
            found.add(p)
            todo += children.get(p, [])
    return found


class Browser:
    """One headless Chromium with one profile, driven over its DevTools pipe.

    This process becomes a child subreaper, so Chromium's helpers (the zygotes, the
    crashpad handler that detaches itself) come back to it when orphaned; leaving the
    ``with`` block closes the browser, kills what is left of it and reaps every process."""

    def __init__(self, profile: str | None = None, home: Path | None = None) -> None:
        self.home = home or host_home()
        self.profile = profile
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.proc: subprocess.Popen | None = None
        self.wfd = self.rfd = -1
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.version: str | None = None
        self._children_before: set[int] = set()

    def __enter__(self) -> Browser:
        if self.profile is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="chromium-", dir=os.environ.get("KZLAB_RUN_DIR"))
            self.profile = self._tmp.name
        profile = Path(self.profile)
        prefs = profile / "Default" / "Preferences"
        if not prefs.exists():
            prefs.parent.mkdir(parents=True, exist_ok=True)
            prefs.write_text(json.dumps(PREFERENCES))
        ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self._children_before = set(_process_tree().get(os.getpid(), []))
        try:
            self._spawn(profile)
            self.version = self.send("Browser.getVersion").get("product")
        except (BrowserError, TimeoutError) as exc:
            log = profile / "chromium.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            self.__exit__()
            raise BrowserError(f"Chromium did not start: {exc}\n{tail}") from exc
        except BaseException:
            self.__exit__()
            raise
        return self

    def _spawn(self, profile: Path) -> None:
        cmd_r, self.wfd = os.pipe()  # Chromium reads commands on fd 3
        self.rfd, ans_w = os.pipe()  # and writes replies and events on fd 4

        def child_setup() -> None:
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(ans_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with this probe

        tmp = profile / "tmp"  # Chromium's temporary files (its singleton socket) stay in the run
        tmp.mkdir(exist_ok=True)
        env = {**os.environ, "HOME": str(self.home), "TMPDIR": str(tmp)}
        libc = ctypes.CDLL(None)
        try:
            with open(profile / "chromium.log", "ab") as log:
                self.proc = subprocess.Popen(
                    [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=env,
                    cwd=profile,
                    start_new_session=True,  # its own process group, killed as one
                    preexec_fn=child_setup,
                    pass_fds=(3, 4),
                )
        finally:
            os.close(cmd_r)
            os.close(ans_w)

    def __exit__(self, *_exc: object) -> None:
        proc = self.proc
        if proc is not None:
            tree = self._tree()
            if proc.poll() is None:
                with contextlib.suppress(OSError, BrowserError, TimeoutError):
                    self.send("Browser.close", timeout=3)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(3)
            tree |= self._tree()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            for pid in tree - {proc.pid}:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
            self._reap(tree - {proc.pid})
            self.proc = None
        for fd in (self.wfd, self.rfd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.wfd = self.rfd = -1
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _tree(self) -> set[int]:
        """Chromium's processes: its own tree, and the orphans (crashpad's handler detaches
        itself at start) handed to this process since it started Chromium."""
        assert self.proc is not None
        orphans = set(_process_tree().get(os.getpid(), [])) - self._children_before
        return _descendants({self.proc.pid} | orphans)

    @staticmethod
    def _reap(pids: set[int], timeout: float = 3) -> None:
        """Wait for those of ``pids`` that are (now) this process's children."""
        deadline = time.monotonic() + timeout
        pending = set(pids)
        while pending and time.monotonic() < deadline:
            for pid in list(pending):
                try:
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        pending.discard(pid)
                except ChildProcessError:
                    # not ours: gone, or an orphan not yet handed to us
                    if not Path(f"/proc/{pid}").exists():
                        pending.discard(pid)
            if pending:
                time.sleep(0.02)

    # -- the DevTools protocol -------------------------------------------------------

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self.rfd, 1 << 16)
            if not chunk:
                raise BrowserError("Chromium closed its DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout: float = 20
    ) -> dict[str, Any]:
        """Send a command; its result (events arriving meanwhile are kept in ``events``)."""
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float) -> bool:
        """Whether event ``method`` of ``session`` arrived (or arrives within ``timeout``)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            if any(e["method"] == method and e.get("sessionId") == session for e in self.events[seen:]):
                return True
            seen = len(self.events)
            try:
                self.events.append(self._read_message(deadline))
            except TimeoutError:
                return False

    # -- pages --------------------------------------------------------------------------

    def load(self, url: str, timeout: float = 20) -> PageLoad:
        """Load ``url`` in a new tab of this browser; what Chromium saw (kazakhstan.md 1.11)."""
        result = PageLoad(url)
        start = time.monotonic()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        try:
            session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Network", "Security", "Runtime"):
                self.send(f"{domain}.enable", session=session)
            self.events.clear()
            try:
                nav = self.send("Page.navigate", {"url": url}, session=session, timeout=timeout)
                result.error = nav.get("errorText") or None
                if not self.wait_for("Page.loadEventFired", session, max(1.0, timeout - (time.monotonic() - start))):
                    result.error = result.error or "timeout"
            except TimeoutError:
                result.error = "timeout"
            self._read_events(result, session)
            state = json.loads(
                self.send("Runtime.evaluate", {"expression": PAGE_STATE, "returnByValue": True}, session=session)[
                    "result"
                ]["value"]
            )
        finally:
            self.send("Target.closeTarget", {"targetId": target})
        result.final_url = state["url"]
        result.interstitial = bool(state["interstitial"])
        if result.interstitial:
            result.overridable = bool(state["overridable"])
            if result.overridable != state["proceedLink"]:
                raise BrowserError(f"{url}: the interstitial's overridable and its proceed-link disagree")
            result.warning = _strip_tags(state["warning"])
        result.loaded = result.error is None and not result.interstitial
        if result.loaded:
            result.title = state["title"]
        result.seconds = round(time.monotonic() - start, 2)
        return result

    def _read_events(self, result: PageLoad, session: str) -> None:
        request_id = None
        for ev in self.events:
            if ev.get("sessionId") != session:
                continue
            method, params = ev["method"], ev.get("params", {})
            if method == "Network.requestWillBeSent" and params.get("type") == "Document":
                request_id = request_id or params["requestId"]
            elif method == "Network.responseReceived" and params.get("requestId") == request_id:
                result.status = params["response"].get("status")
            elif method == "Network.loadingFailed" and params.get("requestId") == request_id:
                result.error = result.error or params.get("errorText")
            elif method == "Security.visibleSecurityStateChanged":
                cert_state = params["visibleSecurityState"].get("certificateSecurityState") or {}
                if cert_state.get("certificate"):
                    result.chain = describe_chain(cert_state["certificate"])


def load(url: str, timeout: float = 20, home: Path | None = None) -> PageLoad:
    """Load ``url`` in a fresh headless Chromium (a new, temporary profile)."""
    with Browser(home=home) as browser:
        return browser.load(url, timeout)


def render(r: PageLoad) -> str:
    lines = [f"{r.url}: {'loaded' if r.loaded else f'FAILED {r.error}'} in {r.seconds}s"]
    if r.title is not None:
        lines.append(f"  title  {r.title}")
    lines += [f"  [{depth}] {c['subject']}  <-  {c['issuer']}" for depth, c in enumerate(r.chain)]
    if r.interstitial:
        lines.append(f"  certificate warning: {'can' if r.overridable else 'can NOT'} be clicked through")
        if r.warning and not r.overridable:
            lines.append(f"  ({r.warning})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+", metavar="URL", help="loaded in order, in one browser and profile")
    parser.add_argument("--timeout", type=float, default=20, help="seconds per page")
    parser.add_argument("--profile", help="user data dir to use and keep (default: a fresh temporary one)")
    parser.add_argument("--home", type=Path, help="HOME whose .pki/nssdb Chromium reads (default: this lab host's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per URL")
    args = parser.parse_args(argv)
    try:
        with Browser(args.profile, args.home) as browser:
            results = [browser.load(url, args.timeout) for url in args.urls]
    except (BrowserError, OSError, TimeoutError) as exc:
        print(f"browser: {exc}", file=sys.stderr)
        return 2
    for r in results:
        print(json.dumps(asdict(r) | {"root": r.root, "chromium": browser.version}) if args.json else render(r))
    return 0 if all(r.loaded for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
