"""Run a coroutine to completion from synchronous code, even when this thread already runs a loop.

plan() and render_chunk() are synchronous functions; a caller inside a running event loop (a
notebook, Playwright's sync API, a Qt app) cannot use asyncio.run() there, so the coroutine gets a
loop of its own in a helper thread.
"""
from __future__ import annotations

import asyncio
import threading
from typing import Any, TypeVar
from collections.abc import Coroutine

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="hyperdesk-sync-run")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
