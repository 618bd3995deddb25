"""Dask scheduler addresses and the names a cluster's workers get as hyperdesk nodes (no Dask import)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hyperdesk.errors import HyperdeskError

RESOURCE = "render"  # the abstract Dask worker resource that counts render slots
START_HINT = ("Start a scheduler with `dask scheduler` and workers with `dask worker ADDRESS --resources "
              "render=2`, then pass --dask tcp://HOST:8786.")


def check_scheduler_address(text: str) -> str:
    """A Dask scheduler address (`tcp://HOST:PORT`, `tls://…`, `ws://…`), else INVALID_RENDER_CONFIG."""
    value = text.strip()
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "tls", "ws", "wss", "inproc") or not parts.hostname or port is None:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"not a Dask scheduler address: {text!r}",
                             hint="Give it as tcp://HOST:PORT (a `dask scheduler` listens on 8786 by default).",
                             details={"field": "dask", "value": text})
    return value


def is_scheduler_address(text: str) -> bool:
    return "://" in text


def cluster_label(address: str) -> str:
    """The node-name prefix of a cluster given by address: `dask-HOST:PORT`."""
    parts = urlsplit(address)
    return f"dask-{parts.hostname}:{parts.port}"


def worker_label(address: str, info: dict[str, Any]) -> str:
    """A worker's `--name` when it has one, else its host:port."""
    name = str(info.get("name") or "")
    if name and name != address:
        return name
    parts = urlsplit(address)
    return f"{parts.hostname}:{parts.port}"
