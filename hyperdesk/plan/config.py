"""What the user asks for (RenderConfig) and what reaches a render from the environment."""
from __future__ import annotations

import math
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hyperdesk.composition.project import ProjectLimits
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps, Quality

DEFAULT_MAX_PLAN_BYTES = 2 * 1024 ** 3
# What a project copy may take (issue 19): far above a real composition's files, far below a home
# directory's, so a composition in the wrong folder is refused before anything is read.
DEFAULT_MAX_PROJECT_BYTES = 2 * 1024 ** 3
DEFAULT_MAX_PROJECT_FILES = 20_000
# 4 hours at 60 fps (8 at 30): far beyond a real composition, far below a data-duration typed in
# frames or milliseconds, which would otherwise plan for hours writing silence.
DEFAULT_MAX_FRAMES = 864_000
RUNTIME_ENV_PREFIXES = ("HYPERDESK_RUNTIME_", "HYPERDESK_RENDER_")
FORMATS = ("mp4", "mov", "webm", "png-sequence")


class RenderConfig(BaseModel):
    """A render request, before anything is resolved or locked."""

    model_config = ConfigDict(extra="forbid")

    entry: str = "index.html"
    # check_format() refuses anything else for a request (plan() too, with the contract's code)
    format: str = "mp4"
    quality: Quality = "standard"
    fps: str | None = None  # a fps form; None = the root's data-fps, else 30
    crf: int | None = None
    bitrate: str | None = None
    keyframe_interval: int | None = None
    chunk_frames: int | None = None
    target_chunk_frames: int = 240
    max_chunk_frames: int = 3600
    max_chunks: int = 64
    encoder_threads: int = 4
    include_audio: bool = True
    variables: dict[str, Any] = Field(default_factory=dict)
    asset_dirs: list[str] = Field(default_factory=list)
    allow_outside: list[str] = Field(default_factory=list)  # folders outside the project a composition may read
    # a single-file composition: globs (relative to its folder) of files its scripts fetch at run time
    include: list[str] = Field(default_factory=list)
    max_project_bytes: int = DEFAULT_MAX_PROJECT_BYTES
    max_project_files: int = DEFAULT_MAX_PROJECT_FILES
    allow_missing_assets: bool = False  # render without a remote asset no tier supplies (a warning each)
    max_plan_bytes: int = DEFAULT_MAX_PLAN_BYTES
    max_frames: int = DEFAULT_MAX_FRAMES
    # Chunk pre-roll: "auto" lets the plan's seam audit decide, "on"/"off" force it.
    preroll: Literal["auto", "on", "off"] = "auto"

    def parsed_fps(self) -> Fps | None:
        if self.fps is None:
            return None
        try:
            return Fps.parse(self.fps)
        except ValueError as exc:
            raise HyperdeskError("INVALID_RENDER_CONFIG", str(exc),
                                 hint="Use an integer fps (1-240) or num/den such as 30000/1001.",
                                 details={"field": "fps", "value": self.fps, "reason": str(exc)}) from None

    def project_limits(self) -> ProjectLimits:
        for name in ("max_project_files", "max_project_bytes"):
            if getattr(self, name) < 1:
                raise HyperdeskError("INVALID_RENDER_CONFIG", f"{name} must be at least 1, got {getattr(self, name)}",
                                     details={"field": name, "value": getattr(self, name)})
        return ProjectLimits(max_files=self.max_project_files, max_bytes=self.max_project_bytes)

def check_format(fmt: str) -> None:
    """FORMAT_NOT_SUPPORTED, listing the formats, for anything but mp4, mov, webm, png-sequence."""
    if fmt not in FORMATS:
        raise HyperdeskError("FORMAT_NOT_SUPPORTED", f"format {fmt!r} is not supported: choose {', '.join(FORMATS)}",
                             details={"field": "format", "value": fmt, "formats": list(FORMATS)})


def check_variables(variables: Any, path: str = "variables") -> None:
    """INVALID_RENDER_CONFIG for a NaN or infinite number anywhere in the variable overrides: no
    page value is infinite, and a plan's JSON could not hold it."""
    if isinstance(variables, float) and not math.isfinite(variables):
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"{path} is {variables}: variables must be finite numbers",
                             hint="Give --variables finite numbers (JSON has no NaN or Infinity).",
                             details={"field": path, "value": str(variables)})
    if isinstance(variables, dict):
        for key, value in variables.items():
            check_variables(value, f"{path}.{key}")
    elif isinstance(variables, (list, tuple)):
        for i, value in enumerate(variables):
            check_variables(value, f"{path}[{i}]")


def runtime_env_snapshot(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {k: v for k, v in sorted(env.items()) if k.startswith(RUNTIME_ENV_PREFIXES)}
