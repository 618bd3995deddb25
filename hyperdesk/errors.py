"""The one hyperdesk error type and the one table of error codes.

Every failure a user can meet is a HyperdeskError: a code, a one-line message, a hint, a retryable
flag and details; the CLI prints it without a traceback, workers send it as data (the worker
protocol's `failed` event), the app shows it. `CODES` says, per code, whether it is retried by
default, the default hint, and the exit class every command exits with for it (plan-contract.md
sections 9 and 13; departure: one exit status per code for every command, see docs/architecture.md).
"""
from __future__ import annotations

import errno
import os
import shutil
from typing import Any, NamedTuple

# Exit classes: the request or this machine's set-up must change (2); something failed while working
# (3); the user cancelled (130).
INPUT, RUNTIME, CANCELLED = 2, 3, 130


class ErrorSpec(NamedTuple):
    retryable: bool
    hint: str
    exit: int


CODES: dict[str, ErrorSpec] = {
    "COMPOSITION_NOT_FOUND": ErrorSpec(
        False, "Check the path: it must name an HTML file or a project folder with index.html.",
        INPUT),
    "INVALID_COMPOSITION": ErrorSpec(
        False, "Fix the element and attribute named in the message (see the composition contract).",
        INPUT),
    "INVALID_RENDER_CONFIG": ErrorSpec(False, "Fix the render setting named in the message.", INPUT),
    "DURATION_ZERO": ErrorSpec(False, "Set data-duration (seconds, > 0) on the composition root.", INPUT),
    "FORMAT_NOT_SUPPORTED_IN_DISTRIBUTED": ErrorSpec(False, "Choose mp4, mov, webm or png-sequence.", INPUT),
    "FORMAT_NOT_SUPPORTED": ErrorSpec(False, "Choose mp4, mov, webm or png-sequence.", INPUT),
    "VIDEO_EXTRACTION_FAILED": ErrorSpec(
        False, "Check that the video file plays and is not corrupt; the ffmpeg output is in details.",
        RUNTIME),
    "AUDIO_MIX_FAILED": ErrorSpec(False, "Check the audio files; the ffmpeg output is in details.", RUNTIME),
    "PLAN_TOO_LARGE": ErrorSpec(
        False, "Shorten or split the composition, use JPEG frame extraction, or raise the plan size cap.",
        INPUT),
    "ASSET_FETCH_FAILED": ErrorSpec(
        False,
        "Put the file at <asset-dir>/<host>/<path> (or list it in <asset-dir>/manifest.json, or drop the npm "
        "tarball there) and pass --asset-dir, or place it in the asset cache directory.",
        INPUT),
    "MISSING_PLAN_ARTIFACT": ErrorSpec(True, "The plan directory is incomplete: copy it again or re-plan.", INPUT),
    "INVALID_PLAN_METADATA": ErrorSpec(False, "The plan metadata does not validate: re-plan the composition.", INPUT),
    "CHUNK_INDEX_OUT_OF_RANGE": ErrorSpec(
        False, "Use a chunk index between 0 and chunk_count - 1 (see plan.json).",
        INPUT),
    "MISSING_RUNTIME_ENV_SNAPSHOT": ErrorSpec(
        False, "Re-plan the composition: the plan has no runtime env snapshot.",
        INPUT),
    "PAGE_SCRIPT_ERROR": ErrorSpec(
        False, "Fix the script error quoted in the message; open the composition in a browser to debug it.",
        RUNTIME),
    "PLAN_PROTOCOL_UNSUPPORTED": ErrorSpec(
        False, "This plan was made by another hyperdesk version: re-plan it or update this node.",
        INPUT),
    "FFMPEG_VERSION_MISMATCH": ErrorSpec(
        False, "Install the same hyperdesk release (it pins imageio-ffmpeg) on this machine, or re-plan here.",
        INPUT),
    "BROWSER_VERSION_MISMATCH": ErrorSpec(
        False, "Install the same Chromium version as the planning machine, or re-plan here.",
        INPUT),
    "RENDERER_VERSION_MISMATCH": ErrorSpec(
        False, "Install the same hyperdesk version as the planning machine, or re-plan here.",
        INPUT),
    "BROWSER_GPU_NOT_SOFTWARE": ErrorSpec(
        False, "Chromium must render with SwiftShader: use Debian's chromium-headless-shell and do not pass GPU flags.",
        INPUT),
    "PLAN_HASH_MISMATCH": ErrorSpec(
        True, "The plan directory was changed after planning: copy it again or re-plan.",
        INPUT),
    "BROWSER_CRASHED": ErrorSpec(
        True, "Chromium exited: check free memory, then retry; the browser log is in the work dir.",
        RUNTIME),
    "CAPTURE_TIMEOUT": ErrorSpec(
        True, "A frame took longer than 30 s: check hf-seek waitUntil promises and heavy scripts, then retry.",
        RUNTIME),
    "WORKER_LOST": ErrorSpec(True, "The worker stopped reporting: the chunk is retried elsewhere.", RUNTIME),
    "PAGE_NAVIGATED": ErrorSpec(
        False,
        "The composition left its page (location, a form, a link or meta refresh): a composition must stay on"
        " index.html.",
        RUNTIME),
    "PAGE_UNRESPONSIVE": ErrorSpec(
        False, "A script on the page never yields (an endless loop?): fix it, then render again.", RUNTIME),
    "PAGE_NOT_READY": ErrorSpec(
        True,
        "Register every timeline in window.__timelines (or add data-no-timeline), and make sure images, fonts"
        " and videos load.",
        RUNTIME),
    "ENCODE_FAILED": ErrorSpec(
        True, "ffmpeg failed: check free disk space; the ffmpeg log is in the work dir.",
        RUNTIME),
    "OUTPUT_NOT_WRITABLE": ErrorSpec(
        False, "Choose an output path in an existing, writable directory (not inside the plan directory).",
        INPUT),
    "DISK_FULL": ErrorSpec(
        False,
        "Free space on the disk holding the folder named in the message (or choose another folder), then run"
        " again: verified chunks are kept by hyperdesk jobs resume.",
        INPUT),
    "OUTPUT_HASH_MISMATCH": ErrorSpec(
        True, "A chunk file changed after it was rendered: render that chunk again (a render job does it by itself"
        " when it can).",
        RUNTIME),
    "ASSEMBLE_INPUT_MISSING": ErrorSpec(True, "A chunk file is missing: render that chunk again.", RUNTIME),
    "CHUNK_RESULT_INVALID": ErrorSpec(
        True, "A chunk result does not match the plan: render that chunk again.",
        RUNTIME),
    "OUTPUT_FRAME_COUNT_MISMATCH": ErrorSpec(
        False, "The assembled output lost or gained frames: the work dir is kept for diagnosis; report it.",
        RUNTIME),
    "OUTPUT_DURATION_MISMATCH": ErrorSpec(
        False, "The assembled output has the wrong length: the work dir is kept for diagnosis; report it.",
        RUNTIME),
    "OUTPUT_KEYFRAME_MISMATCH": ErrorSpec(
        False, "The assembled output has misplaced keyframes: the work dir is kept for diagnosis; report it.",
        RUNTIME),
    "OUTPUT_DECODE_FAILED": ErrorSpec(
        False, "The assembled output does not decode cleanly: the work dir is kept for diagnosis; report it.",
        RUNTIME),
    "NONDETERMINISTIC_OUTPUT": ErrorSpec(
        False, "Two nodes rendered different bytes: run the admission self-test on both.",
        RUNTIME),
    "CANCELLED": ErrorSpec(False, "The render was cancelled.", CANCELLED),
    "BROWSER_NOT_FOUND": ErrorSpec(
        False,
        "Install chromium-headless-shell (Debian/Ubuntu: apt-get install chromium-headless-shell) or set "
        "HYPERDESK_BROWSER to a Chromium executable.",
        INPUT),
    "FFMPEG_NOT_FOUND": ErrorSpec(
        False, "Reinstall hyperdesk: the pinned ffmpeg comes with the imageio-ffmpeg package.",
        INPUT),
    "HOST_KEY_CHANGED": ErrorSpec(
        False, "The node's SSH host key changed: check the machine, then remove and re-add the node.",
        INPUT),
    "HOST_KEY_UNKNOWN": ErrorSpec(
        False, "Confirm the node's SHA256 fingerprint with --accept-host-key FINGERPRINT.",
        INPUT),
    "NODE_UNREACHABLE": ErrorSpec(
        True,
        "Check that the node is on, reachable over SSH from here, and that sshd runs; its chunks go elsewhere"
        " meanwhile.",
        RUNTIME),
    "NODE_AUTH_FAILED": ErrorSpec(
        False, "Check the node's user and key: the key's public half must be in the user's authorized_keys.",
        RUNTIME),
    "NODE_INCOMPATIBLE": ErrorSpec(
        False,
        "Install the same hyperdesk release, Chromium and pinned ffmpeg on the node (hyperdesk nodes "
        "provision), then test it again.",
        RUNTIME),
    "NODE_PROVISION_FAILED": ErrorSpec(
        False, "Fix what the message names on the node, then run hyperdesk nodes provision again.",
        RUNTIME),
    "OUTPUT_FORMAT_MISMATCH": ErrorSpec(
        False, "Name the output with the format's extension, or give --format matching the extension (without "
        "--format, the extension chooses it).", INPUT),
    "OUTPUT_EXISTS": ErrorSpec(
        False,
        "Choose an empty or new output folder, or pass --overwrite to replace the frames an earlier render "
        "recorded in it (other files stay).",
        INPUT),
    "OUTPUT_INSIDE_PROJECT": ErrorSpec(
        False,
        "Write the output outside the project, or as a new file (for example in its output/, renders/ or dist/ "
        "folder): hyperdesk never overwrites the composition's own files or a file it reads.",
        INPUT),
    "OUTSIDE_PROJECT_REFERENCE": ErrorSpec(
        False, "Move the file into the project folder, or admit its folder explicitly with --allow-outside PATH.",
        INPUT),
    "BROKEN_SYMLINK": ErrorSpec(False, "The symbolic link points to nothing: fix or remove it.", INPUT),
    "PROJECT_TOO_LARGE": ErrorSpec(
        False,
        "Render the HTML file from a folder of its own, or raise --max-project-files / --max-project-bytes.",
        INPUT),
    "PROJECT_FILE_UNREADABLE": ErrorSpec(
        False,
        "Make the file readable (chmod a+r), or move it out of the project folder if the composition does not"
        " use it.",
        INPUT),
    "DURATION_TOO_LONG": ErrorSpec(
        False, "Check data-duration (it is in seconds), or raise the cap with --max-frames.",
        INPUT),
    "WEBGPU_NOT_SUPPORTED": ErrorSpec(
        False,
        "hyperdesk renders with software WebGL only: remove data-requires-webgpu or provide a WebGL/canvas "
        "fallback.",
        INPUT),
    "SHADER_TRANSITIONS_NOT_SUPPORTED": ErrorSpec(
        False,
        "hyperdesk cannot render page-side shader transitions (HyperShader): replace them with CSS or GSAP "
        "transitions (e.g. an opacity crossfade), or render this composition with the HyperFrames CLI.",
        INPUT),
    "JOB_LOCKED": ErrorSpec(
        False, "Another hyperdesk process is running this job: wait for it or stop it first.",
        INPUT),
    "OUTPUT_LOCKED": ErrorSpec(
        False, "Another hyperdesk job is writing this output: wait for it, or choose another output path.",
        INPUT),
    "INTERNAL_ERROR": ErrorSpec(False, "This is a bug in hyperdesk: please report it with the details.", RUNTIME),
}


class HyperdeskError(Exception):
    """A typed failure: what went wrong (code, message), what to do (hint), may it be retried."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        retryable: bool | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        default_retryable, default_hint, _exit = CODES.get(code, ErrorSpec(False, "", RUNTIME))
        self.code = code
        self.message = " ".join(str(message).split())  # always one line
        self.hint = hint if hint is not None else default_hint
        self.retryable = default_retryable if retryable is None else retryable
        self.details = dict(details or {})
        super().__init__(f"{code}: {self.message}")

    @property
    def exit_status(self) -> int:
        """The process exit status for this error, the same from every command."""
        return exit_status(self.code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "retryable": self.retryable,
            "details": jsonable(self.details),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HyperdeskError:
        return cls(
            data["code"],
            data.get("message", ""),
            hint=data.get("hint"),
            retryable=data.get("retryable"),
            details=data.get("details") or {},
        )


def exit_status(code: str) -> int:
    spec = CODES.get(code)
    return spec.exit if spec is not None else RUNTIME


def jsonable(value: Any) -> Any:
    """Error details travel as JSON (worker events, the job store, --json): keep what is JSON,
    stringify anything else."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


def is_disk_full(exc: BaseException) -> bool:
    """An OSError saying the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def free_bytes(folder: str | os.PathLike[str]) -> int | None:
    """Free bytes on the disk holding `folder` (its nearest existing ancestor), or None."""
    path = os.path.abspath(os.fspath(folder))
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def disk_full(folder: str | os.PathLike[str], *, needed: int | None = None, what: str = "",
              cause: BaseException | str | None = None) -> HyperdeskError:
    """DISK_FULL naming the folder, and the space needed (when known) against what is free."""
    folder = os.path.abspath(os.fspath(folder))
    free = free_bytes(folder)
    if needed is not None and free is not None:
        space = f"needs {_mb(needed)}, {_mb(free)} free"
    elif free is not None:
        space = f"{_mb(free)} free"
    else:
        space = "no space left"
    message = f"the disk holding {folder} is full{' while ' + what if what else ''} ({space})"
    details: dict[str, Any] = {"folder": folder, "free_bytes": free, "needed_bytes": needed}
    if cause is not None:
        details["error"] = str(cause)
    return HyperdeskError("DISK_FULL", message, details=details)


def unexpected_error(exc: BaseException, folder: str | os.PathLike[str] | None = None) -> HyperdeskError:
    """The typed error for an exception nobody expected: a full disk is DISK_FULL (naming the file's
    folder, or `folder`), anything else INTERNAL_ERROR."""
    if is_disk_full(exc):
        assert isinstance(exc, OSError)
        where = os.path.dirname(os.fspath(exc.filename)) if exc.filename else None
        return disk_full(where or folder or os.getcwd(), cause=exc)
    return HyperdeskError("INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
