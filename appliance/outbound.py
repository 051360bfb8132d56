"""Where a tenant may point the appliance's outgoing requests (a channel's api_base, the cloud base_url).

Stored secrets travel to these URLs, so a tenant-set URL must be https to a host that resolves only to public
addresses, with no user name, query or fragment; the platform admin can allow more hosts (setting
outbound_allow_hosts, e.g. a proxy or the fake platforms of the tests). The check runs when the URL is saved and
again right before each request, since what a name resolves to may change.

Also the one pacing rule for every outgoing call that is retried (platform sends, the cloud model): a server's
Retry-After header read once, and one exponential backoff with jitter.
"""
from __future__ import annotations

import ipaddress
import random
import socket
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Callable
from urllib.parse import urlsplit

from appliance.errors import AppError

MAX_URL = 2000


class UnsafeUrl(AppError, ValueError):
    """A URL the appliance will not send secrets to (a 422 `invalid_<field>`); the message is a sentence saying why."""

    status = 422

    def __init__(self, message: str, name: str = "url"):
        super().__init__(self.status, f"invalid_{name}", message)


class Unresolvable(UnsafeUrl):
    """The URL's host does not resolve (now): refused at save, a temporary failure at send time."""


def allowed_hosts(setting: str) -> set[str]:
    """The outbound_allow_hosts setting as lower-case 'host' and 'host:port' entries."""
    return {entry.strip().lower() for entry in (setting or "").split(",") if entry.strip()}


def check_url(url, allow: str, name: str = "api_base",
              resolve: Callable[..., list] = socket.getaddrinfo) -> str:
    """`url` without a trailing slash when it is safe to send secrets to, else UnsafeUrl with a sentence."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeUrl(f"'{name}' must be a URL such as https://api.example.com.", name)
    url = url.strip()
    if len(url) > MAX_URL or any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
        raise UnsafeUrl(f"'{name}' must be a plain URL (at most {MAX_URL} characters, no spaces or "
                        "backslashes).", name)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl(f"'{name}' is not a valid URL.", name) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl(f"'{name}' must be an https:// URL with a host name.", name)
    if "@" in parts.netloc or parts.query or parts.fragment or "?" in url or "#" in url:
        raise UnsafeUrl(f"'{name}' may not carry a user name, a query (?) or a fragment (#); give the base URL "
                        "only.", name)
    host = parts.hostname.lower()
    hosts = allowed_hosts(allow)
    if hosts & _names(host, port):
        return url.rstrip("/")
    if parts.scheme != "https":
        raise UnsafeUrl(f"'{name}' must use https:// (the platform admin can allow other hosts with the "
                        "outbound_allow_hosts setting).", name)
    for address in _addresses(host, port or 443, resolve, name):
        if not is_public(address):
            raise UnsafeUrl(f"'{name}' points at {host}, which is a local or private address; only public addresses "
                            "are allowed unless the platform admin lists the host in outbound_allow_hosts.", name)
    return url.rstrip("/")


def _names(host: str, port: int | None) -> set[str]:
    """How an allow-list entry may name this host: host, [host], host:port, [host]:port."""
    names = {host, f"[{host}]"}
    if port is not None:
        names |= {f"{host}:{port}", f"[{host}]:{port}"}
    return names


def _addresses(host: str, port: int, resolve, name: str) -> list[str]:
    try:
        infos = resolve(host, port, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise Unresolvable(f"The host of '{name}' ({host}) cannot be resolved; check the address.", name) from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise Unresolvable(f"The host of '{name}' ({host}) cannot be resolved; check the address.", name)
    return addresses


def is_public(address: str) -> bool:
    """True for a globally routable unicast address (IPv4 or IPv6, an IPv4 inside IPv6 judged as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public(str(embedded))
        if ip in _NAT64:
            return is_public(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
    return ip.is_global and not (ip.is_multicast or ip.is_unspecified or ip.is_reserved or ip.is_loopback
                                 or ip.is_link_local or ip.is_private)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds, or None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer


def backoff(attempt: int, base: float, cap: float) -> float:
    """Seconds before retry `attempt` (1, 2, ...): base * 2^(attempt-1), capped, then a random 50-100% of it so
    clients that failed together do not come back together."""
    delay = min(cap, base * (2 ** min(max(0, attempt - 1), 64)))
    return delay * random.uniform(0.5, 1.0)
