"""``host:port`` addresses in the URLs of several nodes (Sentinel, Cluster)."""

from __future__ import annotations


def format_address(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str, default_port: int, what: str) -> tuple[str, int]:
    """``host[:port]`` or ``[IPv6][:port]``; ValueError naming ``what`` (a
    "sentinel address", a "cluster node address") when it is not one."""
    text = text.strip()
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise ValueError(f"{what} without a host: {text!r}")
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise ValueError(f"{what} with a bad port: {text!r}") from None


def parse_addresses(hosts: str, default_port: int, what: str) -> tuple[tuple[str, int], ...]:
    """Comma-separated addresses (empty parts skipped)."""
    return tuple(
        parse_address(part, default_port, what) for part in hosts.split(",") if part.strip()
    )
