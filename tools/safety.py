"""URL safety for page fetching: only http(s), and no private, loopback or link-local addresses
(SSRF) unless an allowlist opens them. The address check runs inside the connect step itself, on
the very IPs the socket will use, so neither a redirect nor a DNS answer that changes between a
check and the connect (rebinding) can slip past it."""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpcore

from tools.errors import UnsafeURLError

SCHEMES = ("http", "https")


class Policy:
    """allow_hosts holds host names, IP addresses or CIDR networks that may be private."""

    def __init__(self, allow_hosts=()):
        self.names: set[str] = set()
        self.nets = []
        for entry in allow_hosts:
            try:
                self.nets.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.names.add(entry.lower().rstrip("."))

    def check_url(self, url: str) -> str:
        """Refuse what can be refused before any network work; returns the host."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise UnsafeURLError(f"refused {url}: only http and https URLs are fetched")
        if not parts.hostname:
            raise UnsafeURLError(f"refused {url}: no host")
        host = parts.hostname
        try:
            self.check_ip(host, host)
        except ValueError:  # a name, not a literal address: checked once resolved
            pass
        return host

    def check_ip(self, host: str, ip: str) -> None:
        addr = ipaddress.ip_address(ip.split("%")[0])
        if is_public(addr) or host.lower().rstrip(".") in self.names:
            return
        if any(addr in net for net in self.nets):
            return
        shown = host if host == ip else f"{host} ({ip})"
        raise UnsafeURLError(f"refused {shown}: private, loopback or link-local address")


def is_public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return addr.is_global and not addr.is_multicast


class Guard(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves a host, checks every address, then connects to a
    checked one (never to a fresh DNS answer)."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
            )
        except (OSError, asyncio.TimeoutError) as e:
            raise httpcore.ConnectError(f"cannot resolve {host}: {e or 'timed out'}") from e
        ips = list(dict.fromkeys(info[4][0] for info in infos))
        for ip in ips:  # one private answer refuses the host: the resolver's order is not ours to trust
            self.policy.check_ip(host, ip)
        return await self.inner.connect_tcp(ips[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise UnsafeURLError("refused a unix socket connection")

    async def sleep(self, seconds):
        await self.inner.sleep(seconds)
