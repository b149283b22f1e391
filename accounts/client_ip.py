"""The client address rate limits count, validated and reduced to a short, fixed-size key.

The address is REMOTE_ADDR, or with `NUM_PROXIES` trusted proxies in front the one the
nearest of them appended to X-Forwarded-For (as DRF's throttles read it). Anything that is
not an IP address counts as REMOTE_ADDR, so a client cannot pick its own bucket by sending
made-up headers, and no raw header text ever reaches a cache key. IPv6 clients are counted
per /64 (one customer's allocation), since each of them can pick any address within it.
"""

from __future__ import annotations

import hashlib
import ipaddress

from rest_framework.settings import api_settings

IPV6_PREFIX = 64


def client_address(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = api_settings.NUM_PROXIES
    candidate = remote
    if proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")[:4096]
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            candidate = hops[-min(proxies, len(hops))]
    for text in (candidate, remote):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if address.version == 6:
            if address.ipv4_mapped is not None:
                return str(address.ipv4_mapped)
            return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
        return str(address)
    return "unknown"


def hashed(scope: str, value: str) -> str:
    """A cache-key part for validated input: its digest, never the text itself."""
    return hashlib.sha256(f"{scope}\0{value}".encode()).hexdigest()[:32]


def client_key(request) -> str:
    return hashed("ip", client_address(request))
