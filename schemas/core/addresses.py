"""Which network addresses the service may send notifications to (docs/security.md#webhooks).

A subscription names a URL, and the dispatcher POSTs to it from inside the deployment: without
a check, a webhook to ``http://127.0.0.1:…``, ``http://169.254.169.254/…`` (cloud metadata) or
a private address would let whoever manages subscriptions reach services that are not meant to
be reachable (server-side request forgery). Only *global* unicast addresses are allowed,
unless ``SOURCEWATCH_NOTIFY_ALLOW_PRIVATE_TARGETS`` is set (a receiver on the same host or
network, and the tests).

The check is made on the addresses a host name *resolves to*, when the subscription is stored
and again when each request is sent — and the request then connects to the address that was
checked, so a name that resolves to a public address at the first look and to a private one
at the next (DNS rebinding) gets nowhere.
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["TargetRefused", "check_address", "resolve_checked"]


class TargetRefused(ValueError):
    """The host resolves to an address notifications may not be sent to."""


def check_address(address: str, *, allow_private: bool = False) -> None:
    """Raise :class:`TargetRefused` unless ``address`` (an IP address) is a global unicast
    address (or ``allow_private``)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_private or (ip.is_global and not ip.is_multicast):
        return
    kind = (
        "loopback"
        if ip.is_loopback
        else "link-local"
        if ip.is_link_local
        else "multicast"
        if ip.is_multicast
        else "private"
        if ip.is_private
        else "non-global"
    )
    raise TargetRefused(
        f"{ip} is a {kind} address; notifications go to global addresses only "
        "(SOURCEWATCH_NOTIFY_ALLOW_PRIVATE_TARGETS allows others)"
    )


def resolve_checked(
    host: str, port: int, *, allow_private: bool = False
) -> list[tuple[socket.AddressFamily, str]]:
    """The addresses ``host`` resolves to, each checked: raises :class:`TargetRefused` when any
    of them may not be reached (a name with one private address among public ones is refused
    as a whole), :class:`OSError` when it does not resolve."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[tuple[socket.AddressFamily, str]] = []
    for family, _, _, _, sockaddr in found:
        address = str(sockaddr[0])
        check_address(address, allow_private=allow_private)
        if (family, address) not in addresses:
            addresses.append((family, address))
    if not addresses:
        raise OSError(f"{host} resolves to no address")
    return addresses
