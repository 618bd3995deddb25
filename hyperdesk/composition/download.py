"""The direct tier of the asset resolver: one HTTPS GET (composition contract 12.2, tier 2).

15 s timeout, at most 3 redirects, status 200 only, a fixed desktop-Chrome User-Agent, 256 MiB
cap; an ``http:`` URL is fetched over https unless plain http to a loopback host is allowed.
"""
from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
DIRECT_TIMEOUT_S = 15
MAX_REDIRECTS = 3
MAX_BYTES = 256 * 1024 * 1024

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class DirectFailure(Exception):
    """The direct tier did not supply the URL: ``outcome`` for the error's attempts list,
    ``transient`` when retrying might help (a timeout, a server error)."""

    def __init__(self, outcome: str, transient: bool) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.transient = transient


def is_loopback(host: str) -> bool:
    host = (host or "").strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def __init__(self, allow_http_loopback: bool) -> None:
        super().__init__()
        self.allow_http_loopback = allow_http_loopback

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        parts = urlsplit(newurl)
        if parts.scheme != "https" and not (
            self.allow_http_loopback and parts.scheme == "http" and is_loopback(parts.hostname or "")
        ):
            raise DirectFailure(f"redirect to a non-https URL ({newurl[:200]})", False)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def direct_get(url: str, *, allow_http_loopback: bool = False) -> tuple[bytes, str, str]:
    """GET ``url``; returns (bytes, content type header, final URL). Raises DirectFailure."""
    parts = urlsplit(url)
    loop = is_loopback(parts.hostname or "")
    if parts.scheme == "http" and not (allow_http_loopback and loop):
        url = "https" + url[4:]
    handlers: list = [_Redirects(allow_http_loopback)]
    if loop:
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, headers={
        "User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity",
    })
    try:
        with opener.open(req, timeout=DIRECT_TIMEOUT_S) as resp:
            status = getattr(resp, "status", None) or resp.getcode()
            if status != 200:
                raise DirectFailure(f"HTTP {status} (only 200 is accepted)", False)
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > MAX_BYTES:
                raise DirectFailure("larger than the 256 MiB cap", False)
            chunks, total = [], 0
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_BYTES:
                    raise DirectFailure("larger than the 256 MiB cap", False)
                chunks.append(chunk)
            return b"".join(chunks), resp.headers.get("Content-Type", ""), resp.geturl()
    except DirectFailure:
        raise
    except urllib.error.HTTPError as e:
        if e.code in (301, 302, 303, 307, 308):
            raise DirectFailure(f"more than {MAX_REDIRECTS} redirects", False) from None
        raise DirectFailure(f"HTTP {e.code}", e.code >= 500) from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, DirectFailure):
            raise reason from None
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise DirectFailure("timeout", True) from None
        raise DirectFailure(f"error: {reason}"[:200], False) from None
    except TimeoutError:
        raise DirectFailure("timeout", True) from None
    except (OSError, ValueError) as e:
        raise DirectFailure(f"error: {e}"[:200], False) from None
