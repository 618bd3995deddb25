"""pydantic models for every file of a planDir and every result crossing a process boundary (base layer).

The shapes are plan-contract.md section 2 and 9.6 / 10.4, field for field.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1

Format = Literal["mp4", "mov", "webm", "png-sequence"]
Codec = Literal["h264", "h265", "prores", "vp9", "png"]
Quality = Literal["draft", "standard", "high"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Fps(_Model):
    num: int
    den: int = 1

    @field_validator("den")
    @classmethod
    def _den_positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("den must be >= 1")
        return v

    @classmethod
    def parse(cls, text: str | int) -> Fps:
        """The fps forms of composition contract 2: an integer 1-240 or num/den; decimals refused.

        Raises ValueError with the reason; callers turn it into their typed code.
        """
        raw = str(text).strip()
        if "/" in raw:
            a, _, b = raw.partition("/")
            if not (a.strip().isdigit() and b.strip().isdigit()):
                raise ValueError(f"fps {raw!r} is not an integer or num/den")
            num, den = int(a), int(b)
            if num < 1 or den < 1:
                raise ValueError(f"fps {raw!r} needs positive integers")
        else:
            if not raw.isdigit():
                raise ValueError(f"fps {raw!r} is not an integer or num/den "
                                 "(decimal rates like 29.97 are written 30000/1001)")
            num, den = int(raw), 1
        f = Fraction(num, den)
        if not (1 <= f <= 240):
            raise ValueError(f"fps {raw!r} is outside 1-240")
        return cls(num=f.numerator, den=f.denominator)

    @classmethod
    def of(cls, num: int, den: int = 1) -> Fps:
        f = Fraction(num, den)
        return cls(num=f.numerator, den=f.denominator)

    @property
    def value(self) -> float:
        return self.num / self.den

    def ffmpeg(self) -> str:
        """What ffmpeg gets: `30` or `30000/1001`."""
        return str(self.num) if self.den == 1 else f"{self.num}/{self.den}"

    def frame_time(self, index: int) -> float:
        """Composition contract 9.1: one IEEE division of two exact integers."""
        return (index * self.den) / self.num


class PlanProtocol(_Model):
    name: str = "hyperdesk-plan"
    layout: str = "plan-dir-v1"
    hash_schema: str = "hyperdesk-plan-hash-v1"


class WorkerEnv(_Model):
    hyperdesk_version: str
    browser_version: str
    ffmpeg_identity: str


class PlanWarning(_Model):
    code: str
    message: str
    element: str | None = None
    attribute: str | None = None
    url: str | None = None


class PlanManifest(_Model):
    schema_version: int = SCHEMA_VERSION
    protocol: PlanProtocol = Field(default_factory=PlanProtocol)
    plan_hash: str
    worker_env: WorkerEnv
    composition_id: str
    width: int
    height: int
    fps: Fps
    format: Format
    codec: Codec
    total_frames: int = Field(ge=1)
    duration_s: float
    chunk_count: int = Field(ge=1)
    has_audio: bool
    audio_included: bool
    size_bytes: int
    file_count: int
    created_at: str
    warnings: list[PlanWarning] = Field(default_factory=list)
    # What the project copy took and from where (issue 19): copies of meta/sources.json and the project
    # folder's real path, which plan.json keeps outside the plan hash (the same files elsewhere make the same plan).
    project_dir: str | None = None
    project_scope: Literal["folder", "referenced"] | None = None
    project_files: int | None = None
    project_bytes: int | None = None
    # URLs rendered without (--allow-missing-assets): the job is "rendered with missing assets".
    missing_assets: list[str] = Field(default_factory=list)


class ProjectSources(_Model):
    """meta/sources.json: what the plan took from the project, and the files the composition reads.

    `scope` is "folder" when the whole project folder was copied, "referenced" when only the files
    the entry references (and the request's --include globs) were. `referenced` holds the real path
    of every local file the compiled composition reads (entry, sub-compositions, stylesheets,
    scripts, media, images, fonts), relative to the project's real path (`../` for a file of an
    --allow-outside folder): the output gate never writes onto one of them.
    """

    schema_version: int = SCHEMA_VERSION
    scope: Literal["folder", "referenced"]
    files: int = Field(ge=0)
    bytes: int = Field(ge=0)
    referenced: list[str] = Field(default_factory=list)


class SubCompositionInfo(_Model):
    runtime_id: str
    authored_id: str
    file: str
    start_s: float | None = None
    duration_s: float | None = None


class MediaCounts(_Model):
    video_count: int = 0
    audio_count: int = 0
    image_count: int = 0


class VariableDecl(_Model):
    model_config = ConfigDict(extra="allow")
    id: str
    type: Literal["string", "number", "color", "boolean", "enum"]
    default: Any = None
    options: list[Any] | None = None
    label: str | None = None


class CompositionMeta(_Model):
    schema_version: int = SCHEMA_VERSION
    composition_id: str
    entry: str
    width: int
    height: int
    fps: Fps
    duration_s: float
    duration_source: Literal["attribute", "probe"]
    total_frames: int
    root_timeline: bool
    sub_compositions: list[SubCompositionInfo] = Field(default_factory=list)
    media: MediaCounts = Field(default_factory=MediaCounts)
    variables: list[VariableDecl] = Field(default_factory=list)
    fonts: list[str] = Field(default_factory=list)


class AudioSettings(_Model):
    codec: Literal["aac"] = "aac"
    sample_rate: int = 48000
    channels: int = 2
    bitrate: str = "192k"


class LockedRenderConfig(_Model):
    schema_version: int = SCHEMA_VERSION
    format: Format
    codec: Codec
    quality: Quality = "standard"
    preset: str
    crf: int | None = None
    bitrate: str | None = None
    vp9_cpu_used: int = 4
    pix_fmt: str
    encoder_threads: int = 4
    keyframe_interval: int
    timescale: int
    width: int
    height: int
    fps: Fps
    capture_format: Literal["jpeg", "png"]
    jpeg_quality: int = 95
    png_fast: bool = True
    transparent_background: bool
    device_scale_factor: int = 1
    browser_gpu_mode: str = "software"
    include_audio: bool = True
    audio: AudioSettings = Field(default_factory=AudioSettings)
    variables: dict[str, Any] = Field(default_factory=dict)
    # Optional in the model so that MISSING_RUNTIME_ENV_SNAPSHOT can name its absence.
    runtime_env: Any | None = None
    seed_random: Literal[True] = True


class ChunkSlice(_Model):
    index: int
    start_frame: int
    end_frame: int


class ChunkPolicy(_Model):
    explicit_chunk_frames: int | None = None
    target_chunk_frames: int = 240
    min_chunk_frames: int | None = None
    max_chunk_frames: int = 3600
    max_chunks: int = 64
    # Auto-sized chunks split a short composition into this many pieces. A constant, not the
    # worker count: chunk boundaries (and so the encoded pixels and the plan hash) must not
    # depend on the machine or farm that plans (issue 10, item 6).
    auto_split: int = 4


class ChunkTable(_Model):
    schema_version: int = SCHEMA_VERSION
    total_frames: int
    keyframe_interval: int
    chunk_frames: int
    chunks: list[ChunkSlice]
    policy: ChunkPolicy
    # Pre-roll (departure from plan-contract 2.4, see docs/internals.md): when set, a chunk starting
    # at s first seeks frames [preroll_from, s - 1) without capturing, then warms up s - 1 as every
    # chunk does, so a history-dependent page reaches s as a one-process render does.
    preroll_from: int | None = Field(default=None, ge=0)
    # The seam audit found the page's frames a pure function of time, so a warm worker may draw its
    # next chunk on the page of its last one (plan/chunk.py). Not set when the audit did not run
    # (pre-roll forced on or off, or one chunk): every chunk then starts on a fresh page, and the
    # output still does not depend on which worker rendered what.
    page_pure: bool = False

    def keyframe_frames(self) -> list[int]:
        """The output frames that are keyframes: every ``keyframe_interval`` frames from each chunk's
        start (the encoder's forced keyframes). The keyframe grid itself when every chunk starts on
        it; one more where a split last chunk starts between two grid points."""
        g = self.keyframe_interval
        return sorted({f for c in self.chunks for f in range(c.start_frame, c.end_frame, g)})


class VideoSource(_Model):
    sha256: str
    duration_s: float
    width: int
    height: int
    codec: str
    is_vfr: bool = False
    has_alpha: bool = False
    color_transfer: str | None = None


class VideoEntry(_Model):
    media_id: str
    src: str
    start_s: float
    end_s: float
    media_start_s: float = 0.0
    playback_rate: float = 1.0
    loop: bool = False
    has_audio: bool = False
    frames_dir: str
    frame_format: Literal["jpg", "png"]
    frame_count: int
    extraction_fps: Fps
    source: VideoSource


class VideoTable(_Model):
    schema_version: int = SCHEMA_VERSION
    videos: list[VideoEntry] = Field(default_factory=list)


class FrozenAsset(_Model):
    url: str
    path: str
    sha256: str
    size: int
    content_type: str
    tier: Literal["asset-dir", "direct", "npm", "fontsource"]
    package: str | None = None
    version: str | None = None


class AssetTable(_Model):
    schema_version: int = SCHEMA_VERSION
    assets: list[FrozenAsset] = Field(default_factory=list)


class FontFace(_Model):
    family: str
    weight: int
    style: str
    unicode_range: str | None = None
    file: str
    sha256: str
    source: str


class FontManifest(_Model):
    schema_version: int = SCHEMA_VERSION
    default_family: str = "Inter"
    generic_map: dict[str, str] = Field(default_factory=dict)
    faces: list[FontFace] = Field(default_factory=list)


class ChunkTimings(_Model):
    total_ms: float = 0
    verify_ms: float = 0
    browser_boot_ms: float = 0
    page_ready_ms: float = 0
    capture_ms: float = 0
    encode_ms: float = 0
    encode_tail_ms: float = 0


class WorkerInfo(_Model):
    host: str
    hyperdesk_version: str
    browser_version: str
    ffmpeg_identity: str


class ResultWarning(_Model):
    code: str
    message: str
    url: str | None = None


class ChunkResult(_Model):
    schema_version: int = SCHEMA_VERSION
    plan_hash: str
    chunk_index: int
    start_frame: int
    end_frame: int
    attempt_id: str
    output_path: str
    output_kind: Literal["file", "frame-dir"]
    sha256: str
    size_bytes: int
    frames_encoded: int
    frame_sha256: list[str]
    capture_mode: Literal["beginframe", "screenshot"]
    browser_kind: Literal["chromium-headless-shell", "chromium"]
    timings: ChunkTimings
    worker: WorkerInfo
    warnings: list[ResultWarning] = Field(default_factory=list)
    perf_path: str
    # The chunk's place in its browser session: 1 = a browser started for it (cold), n > 1 = the
    # (n-1)th chunk that reused a warm worker's browser and page.
    session_chunk: int = 1


class AssembleTimings(_Model):
    verify_inputs_ms: float = 0
    audio_fit_ms: float = 0
    mux_ms: float = 0
    verify_output_ms: float = 0


class AssembleResult(_Model):
    schema_version: int = SCHEMA_VERSION
    plan_hash: str
    output_path: str
    sha256: str
    frames: int
    duration_s: float
    size_bytes: int
    capture_modes: list[str]
    timings: AssembleTimings
    warnings: list[ResultWarning] = Field(default_factory=list)
    missing_assets: list[str] = Field(default_factory=list)  # the plan's: rendered without them


class PlanResult(_Model):
    plan_dir: str
    plan_hash: str
    manifest: PlanManifest
    reused: bool = False
