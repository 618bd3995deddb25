"""What a plan knows about timelines before any page loads (composition contract 7.3 item 3).

A page waits up to the timeline wait (40 s) for every `window.__timelines[id]` its compositions
need (those without `data-no-timeline`), in every chunk. When no script of the compiled project
even mentions `__timelines`, nothing can register one: the plan says so once and the render does
not wait. When scripts do but none names an id, the plan says what each chunk will wait for.
"""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from hyperdesk.capture.spec import Timeouts
from hyperdesk.models import PlanWarning

SCRIPT_SUFFIXES = (".html", ".htm", ".js", ".mjs", ".cjs")


class _CompositionIds(HTMLParser):
    """The data-composition-id of every element without data-no-timeline, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        cid = (found.get("data-composition-id") or "").strip()
        if cid and "data-no-timeline" not in found and cid not in self.ids:
            self.ids.append(cid)


def required_timelines(compiled_dir: Path) -> list[str]:
    """The timeline keys the page of `compiled_dir/index.html` waits for."""
    parser = _CompositionIds()
    parser.feed((compiled_dir / "index.html").read_text("utf-8", errors="replace"))
    return parser.ids


def script_text(compiled_dir: Path) -> str:
    """Every HTML and script file of the compiled project, as one text to search."""
    parts = []
    for path in sorted(compiled_dir.rglob("*")):
        if path.suffix.lower() in SCRIPT_SUFFIXES and path.is_file():
            parts.append(path.read_text("utf-8", errors="replace"))
    return "\n".join(parts)


def timelines_possible(compiled_dir: Path) -> bool:
    """Whether any script could register a timeline (it mentions `__timelines`)."""
    return "__timelines" in script_text(compiled_dir)


def page_timeouts(compiled_dir: Path, ready_s: float | None = None) -> Timeouts:
    """The page limits of a render of this plan (`ready_s`: a test's shorter readiness limit): no
    timeline wait when no script can register a timeline."""
    timeouts = Timeouts(ready_s=ready_s) if ready_s else Timeouts()
    if not timelines_possible(compiled_dir):
        timeouts.timeline_wait_s = 0.0
    return timeouts


def timeline_warnings(compiled_dir: Path, root_id: str, wait_s: float) -> list[PlanWarning]:
    """The plan's warnings about timelines no script can register, or that none names (the root's
    aside: it may bind the only registered timeline under another name)."""
    needed = required_timelines(compiled_dir)
    if not needed:
        return []
    text = script_text(compiled_dir)
    if "__timelines" not in text:
        return [PlanWarning(
            code="TIMELINE_NOT_REGISTERED",
            message=f"no script registers window.__timelines[{_keys(needed)}]: every chunk renders without "
                    "one, at once (only CSS and WAAPI animations move); add data-no-timeline to say so")]
    unnamed = [k for k in needed if k != root_id and not any(f in text for f in (f'"{k}"', f"'{k}'", f".{k}"))]
    if not unnamed:
        return []
    return [PlanWarning(
        code="TIMELINE_NOT_REGISTERED",
        message=f"no script names window.__timelines[{_keys(unnamed)}]: unless a script registers it, each chunk "
                f"waits up to {wait_s:g} s for it, then renders without it; register it, or add data-no-timeline")]


def _keys(ids: list[str]) -> str:
    return ", ".join(f'"{k}"' for k in ids)
