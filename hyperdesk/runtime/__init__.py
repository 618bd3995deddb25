"""The page-side runtime: hyperdesk's own JavaScript, injected into every frame of a page.

`init_script(...)` returns the text the worker gives to Playwright's `add_init_script`: a one-line
configuration prefix (render fps and the variable overrides) followed by `hf-runtime.js`. The
script implements composition contract sections 3-11 in the page; the names it exposes
(`window.__hf`, `window.__hd`, ...) are listed in `PAGE_API`.
"""
from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction
from importlib import resources
from typing import Any
from collections.abc import Mapping

__all__ = [
    "RUNTIME_JS_FILE",
    "RUNTIME_JS_SHA256",
    "PAGE_API",
    "runtime_js",
    "init_script",
]

RUNTIME_JS_FILE = "hf-runtime.js"


def runtime_js() -> str:
    """The text of hf-runtime.js as shipped in the package."""
    return resources.files(__name__).joinpath(RUNTIME_JS_FILE).read_text(encoding="utf-8")


_JS = runtime_js()

#: sha256 of hf-runtime.js (hex), for diagnostics and chunk logs.
RUNTIME_JS_SHA256: str = hashlib.sha256(_JS.encode("utf-8")).hexdigest()

#: What the script defines in the top frame (for documentation and tests).
PAGE_API = {
    "window.__hf": ["duration", "ready", "seek(t)"],
    "window.__hd": [
        "state()", "errors", "warnings", "activeVideos(t)", "videoFrames(t)",
        "setVideoFrame(mediaId, dataUriOrNull)", "afterVideoInjection(t)", "recordError(err, source)",
        "runScoped({id, authoredId, file, variables}, fn)", "scope({id, authoredId, file, variables})",
        "quantise(t)", "resolveStart(el)", "resolveDuration(el)", "fps", "version",
    ],
    "window": ["__hfVariables", "__timelines", "__hfLottie", "__hfAnime", "__hyperframes",
               "__hfThreeTime", "__hfTypegpuTime", "__hdFrame (every frame)"],
}


def _fps_pair(fps_num: Any, fps_den: Any) -> tuple[int, int]:
    if hasattr(fps_num, "num") and hasattr(fps_num, "den"):  # hyperdesk.models.Fps
        num, den = fps_num.num, fps_num.den
    else:
        num, den = fps_num, fps_den
    if isinstance(num, bool) or isinstance(den, bool) or not isinstance(num, int) or not isinstance(den, int):
        raise TypeError(f"fps must be two integers, got {num!r}/{den!r}")
    if num <= 0 or den <= 0:
        raise ValueError(f"fps must be positive, got {num}/{den}")
    f = Fraction(num, den)
    return f.numerator, f.denominator


def _check_json(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"variable {where} is not finite")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"variable keys must be strings ({where})")
            _check_json(v, f"{where}.{k}" if where else k)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, f"{where}[{i}]")


def init_script(fps_num: Any, fps_den: Any = 1, variables: Mapping[str, Any] | None = None, *,
                timeline_wait_ms: float | None = None) -> str:
    """The full init script: config prefix + hf-runtime.js.

    `init_script(30, 1, {"title": "Hello"})`; an `Fps` model is also accepted as the first
    argument (`init_script(fps, variables)` or `init_script(fps, variables=...)`).
    `timeline_wait_ms` is how long readiness waits for unregistered timelines (the root's and
    sub-compositions') before it goes ahead without them with a `TIMELINE_NOT_REGISTERED`
    warning (default 45000, 2000 after a `<script src>` failed to load); the worker passes a
    value below its own readiness limit.
    """
    if hasattr(fps_num, "num") and isinstance(fps_den, Mapping) and variables is None:
        variables, fps_den = fps_den, 1
    num, den = _fps_pair(fps_num, fps_den)
    vars_ = dict(variables or {})
    _check_json(vars_, "")
    config: dict[str, Any] = {
        "fps": {"num": num, "den": den},
        "variables": vars_,
        "version": RUNTIME_JS_SHA256[:16],
    }
    if timeline_wait_ms is not None:
        wait = float(timeline_wait_ms)
        if not math.isfinite(wait) or wait < 0:
            raise ValueError(f"timeline_wait_ms must be a finite number >= 0, got {timeline_wait_ms!r}")
        config["timelineWaitMs"] = wait
    # ensure_ascii: no U+2028/U+2029 or other surprises inside the script text
    blob = json.dumps(config, ensure_ascii=True, allow_nan=False, sort_keys=True, separators=(",", ":"))
    prefix = (
        "Object.defineProperty(window,'__hdRuntimeConfig',"
        "{value:" + blob + ",configurable:true,writable:true,enumerable:false});\n"
    )
    return prefix + _JS
