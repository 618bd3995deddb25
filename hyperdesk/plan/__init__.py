"""The one pipeline: plan() -> render_chunk() -> assemble() (plan-contract.md).

`from hyperdesk.plan import plan, render_chunk, load_plan, RenderConfig` works, but the names load
on first use (PEP 562): a worker imports hyperdesk.plan.chunk for every chunk attempt and must not
pay for the planner's compiler (lxml, tinycss2, fontTools) it never runs. `assemble` comes from
hyperdesk.plan.assemble: its module has the same name, and loading that module binds the package's
`assemble` to the module, not the function.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "plan": "hyperdesk.plan.planner",
    "render_chunk": "hyperdesk.plan.chunk",
    "render_chunk_async": "hyperdesk.plan.chunk",
    "load_plan": "hyperdesk.plan.verify",
    "RenderConfig": "hyperdesk.plan.config",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hyperdesk.plan' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
