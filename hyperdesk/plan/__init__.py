"""The one pipeline: plan() -> render_chunk() -> assemble() (plan-contract.md)."""
from hyperdesk.plan.assemble import assemble
from hyperdesk.plan.chunk import render_chunk, render_chunk_async
from hyperdesk.plan.config import RenderConfig
from hyperdesk.plan.planner import plan
from hyperdesk.plan.verify import load_plan

__all__ = ["plan", "render_chunk", "render_chunk_async", "assemble", "load_plan", "RenderConfig"]
