"""What the user asks for (RenderConfig) and what reaches a render from the environment."""
from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps, Quality

DEFAULT_MAX_PLAN_BYTES = 2 * 1024 ** 3
# 4 hours at 60 fps (8 at 30): far beyond a real composition, far below a data-duration typed in
# frames or milliseconds, which would otherwise plan for hours writing silence.
DEFAULT_MAX_FRAMES = 864_000
RUNTIME_ENV_PREFIXES = ("HYPERDESK_RUNTIME_", "HYPERDESK_RENDER_")


class RenderConfig(BaseModel):
    """A render request, before anything is resolved or locked."""

    model_config = ConfigDict(extra="forbid")

    entry: str = "index.html"
    format: str = "mp4"  # checked by plan(): anything else is FORMAT_NOT_SUPPORTED_IN_DISTRIBUTED
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
    allow_missing_assets: bool = False  # render without a remote asset no tier supplies (a warning each)
    max_plan_bytes: int = DEFAULT_MAX_PLAN_BYTES
    max_frames: int = DEFAULT_MAX_FRAMES

    def parsed_fps(self) -> Fps | None:
        if self.fps is None:
            return None
        try:
            return Fps.parse(self.fps)
        except ValueError as exc:
            raise HyperdeskError("INVALID_RENDER_CONFIG", str(exc),
                                 hint="Use an integer fps (1-240) or num/den such as 30000/1001.",
                                 details={"field": "fps", "value": self.fps, "reason": str(exc)}) from None




def runtime_env_snapshot(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {k: v for k, v in sorted(env.items()) if k.startswith(RUNTIME_ENV_PREFIXES)}
