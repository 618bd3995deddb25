"""What a capture session is given (``PageSpec``, ``Timeouts``) and what it reports besides frames
(``SessionWarning``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hyperdesk.models import Fps, VideoEntry

CaptureMode = Literal["beginframe", "screenshot"]
# What a caller asks for: "auto" is BeginFrame capture when the browser supports it, else screenshot.
RequestedMode = Literal["auto", "beginframe", "screenshot"]


@dataclass
class PageSpec:
    compiled_dir: Path
    fonts_dir: Path
    plan_dir: Path
    width: int
    height: int
    fps: Fps
    variables: dict = field(default_factory=dict)
    capture_format: Literal["jpeg", "png"] = "jpeg"
    jpeg_quality: int = 95
    png_fast: bool = True
    transparent: bool = False
    videos: list[VideoEntry] = field(default_factory=list)


@dataclass
class Timeouts:
    """Contract time limits; tests shorten them."""

    navigation_s: float = 60.0
    ready_s: float = 45.0
    ready_poll_s: float = 0.1
    frame_s: float = 30.0
    probe_s: float = 2.0
    gl_check_s: float = 30.0
    launch_s: float = 60.0
    close_s: float = 10.0
    pump_s: float = 0.016  # BeginFrame pumping cadence while the page loads
    # During a frame step pumping starts only when an operation is stuck this long: a pumped frame
    # renders whatever half-done state the page is in, and raster history can reach later frames.
    capture_pump_delay_s: float = 1.0
    # BeginFrame mode: how long to wait for the redraw capture after a BeginFrame before sending the
    # next one (doubling up to redraw_poll_max_s); see FrameCapture._capture_beginframe.
    redraw_poll_s: float = 0.005
    redraw_poll_max_s: float = 0.05
    # ... and after how long an unanswered redraw capture is asked again (doubling). A frame's
    # capture normally answers within 2 BeginFrames (~20 ms); under load (an encoder on the same
    # cores) a request was seen to stay unanswered until re-asked, which cost 5.7 s at 5 s here.
    redraw_retry_s: float = 0.5
    # ... and for how long its "Unable to capture screenshot" answers (an empty surface copy) are
    # asked again before the frame fails: once, on a page's first frame in a full CI run, more than 8
    # came in a row (the old limit); a broken browser still fails in seconds.
    empty_shots_s: float = 5.0
    # How long the page waits for unregistered timelines before it goes ahead without them (7.3
    # item 3, the root's included). None: derived from ready_s, so that the wait ends before the
    # readiness limit (45 s -> 40 s; a test's 3 s -> 2.25 s).
    timeline_wait_s: float | None = None
    # A page whose main thread answers no call for this long while it loads is stuck (an endless
    # loop): PAGE_UNRESPONSIVE then, not a wait for the navigation and readiness limits (capped by
    # ready_s). A composition's legitimate synchronous start-up work takes well under this.
    unresponsive_s: float = 15.0

    def page_unresponsive_s(self) -> float:
        return max(0.5, min(self.unresponsive_s, self.ready_s))

    def page_timeline_wait_s(self) -> float:
        if self.timeline_wait_s is not None:
            return max(0.0, float(self.timeline_wait_s))
        margin = min(5.0, max(0.5, 0.25 * self.ready_s))
        return max(0.0, min(45.0, self.ready_s - margin))


class SessionWarning(dict):
    """A warning of the session: a dict (``code``, ``message``, ``url``) whose keys also read as
    attributes, so callers may use either ``w["code"]`` or ``w.code``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None
