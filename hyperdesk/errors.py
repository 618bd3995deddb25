"""The one hyperdesk error type: a code, a one-line message, a hint, a retryable flag, details.

Every failure a user can meet is one of these; the CLI prints it without a traceback.
Codes, their default retryability and default hints come from plan-contract.md section 13.
"""
from __future__ import annotations

from typing import Any

# code -> (retryable by default, default hint)
CODES: dict[str, tuple[bool, str]] = {
    "COMPOSITION_NOT_FOUND": (False, "Check the path: it must name an HTML file or a project folder with index.html."),
    "INVALID_COMPOSITION": (False, "Fix the element and attribute named in the message (see the composition contract)."),
    "INVALID_RENDER_CONFIG": (False, "Fix the render setting named in the message."),
    "DURATION_ZERO": (False, "Set data-duration (seconds, > 0) on the composition root."),
    "FORMAT_NOT_SUPPORTED_IN_DISTRIBUTED": (False, "Choose mp4, mov, webm or png-sequence."),
    "VIDEO_EXTRACTION_FAILED": (False, "Check that the video file plays and is not corrupt; the ffmpeg output is in details."),
    "AUDIO_MIX_FAILED": (False, "Check the audio files; the ffmpeg output is in details."),
    "PLAN_TOO_LARGE": (False, "Shorten or split the composition, use JPEG frame extraction, or raise the plan size cap."),
    "ASSET_FETCH_FAILED": (False, "Put the file at <asset-dir>/<host>/<path> (or list it in <asset-dir>/manifest.json, or drop the npm tarball there) and pass --asset-dir, or place it in the asset cache directory."),
    "MISSING_PLAN_ARTIFACT": (True, "The plan directory is incomplete: copy it again or re-plan."),
    "INVALID_PLAN_METADATA": (False, "The plan metadata does not validate: re-plan the composition."),
    "CHUNK_INDEX_OUT_OF_RANGE": (False, "Use a chunk index between 0 and chunk_count - 1 (see plan.json)."),
    "MISSING_RUNTIME_ENV_SNAPSHOT": (False, "Re-plan the composition: the plan has no runtime env snapshot."),
    "PAGE_SCRIPT_ERROR": (False, "Fix the script error quoted in the message; open the composition in a browser to debug it."),
    "PLAN_PROTOCOL_UNSUPPORTED": (False, "This plan was made by another hyperdesk version: re-plan it or update this node."),
    "FFMPEG_VERSION_MISMATCH": (False, "Install the same hyperdesk release (it pins imageio-ffmpeg) on this machine, or re-plan here."),
    "BROWSER_VERSION_MISMATCH": (False, "Install the same Chromium version as the planning machine, or re-plan here."),
    "RENDERER_VERSION_MISMATCH": (False, "Install the same hyperdesk version as the planning machine, or re-plan here."),
    "BROWSER_GPU_NOT_SOFTWARE": (False, "Chromium must render with SwiftShader: use Debian's chromium-headless-shell and do not pass GPU flags."),
    "PLAN_HASH_MISMATCH": (True, "The plan directory was changed after planning: copy it again or re-plan."),
    "BROWSER_CRASHED": (True, "Chromium exited: check free memory, then retry; the browser log is in the work dir."),
    "CAPTURE_TIMEOUT": (True, "A frame took longer than 30 s: check hf-seek waitUntil promises and heavy scripts, then retry."),
    "WORKER_LOST": (True, "The worker stopped reporting: the chunk is retried elsewhere."),
    "PAGE_NOT_READY": (True, "Register every timeline in window.__timelines (or add data-no-timeline), and make sure images, fonts and videos load."),
    "ENCODE_FAILED": (True, "ffmpeg failed: check free disk space; the ffmpeg log is in the work dir."),
    "OUTPUT_NOT_WRITABLE": (False, "Choose an output path in an existing, writable directory (not inside the plan directory)."),
    "OUTPUT_HASH_MISMATCH": (True, "A chunk file changed after it was rendered: it will be fetched or rendered again."),
    "ASSEMBLE_INPUT_MISSING": (True, "A chunk file is missing: render that chunk again."),
    "CHUNK_RESULT_INVALID": (True, "A chunk result does not match the plan: render that chunk again."),
    "OUTPUT_FRAME_COUNT_MISMATCH": (False, "The assembled output lost or gained frames: the work dir is kept for diagnosis; report it."),
    "OUTPUT_DURATION_MISMATCH": (False, "The assembled output has the wrong length: the work dir is kept for diagnosis; report it."),
    "OUTPUT_KEYFRAME_MISMATCH": (False, "The assembled output has misplaced keyframes: the work dir is kept for diagnosis; report it."),
    "OUTPUT_DECODE_FAILED": (False, "The assembled output does not decode cleanly: the work dir is kept for diagnosis; report it."),
    "NONDETERMINISTIC_OUTPUT": (False, "Two nodes rendered different bytes: run the admission self-test on both."),
    "CANCELLED": (False, "The render was cancelled."),
    "BROWSER_NOT_FOUND": (False, "Install chromium-headless-shell (Debian/Ubuntu: apt-get install chromium-headless-shell) or set HYPERDESK_BROWSER to a Chromium executable."),
    "FFMPEG_NOT_FOUND": (False, "Reinstall hyperdesk: the pinned ffmpeg comes with the imageio-ffmpeg package."),
    "HOST_KEY_CHANGED": (False, "The node's SSH host key changed: check the machine, then remove and re-add the node."),
    "HOST_KEY_UNKNOWN": (False, "Confirm the node's SHA256 fingerprint with --accept-host-key FINGERPRINT."),
    "NODE_UNREACHABLE": (True, "Check that the node is on, reachable over SSH from here, and that sshd runs; its chunks go elsewhere meanwhile."),
    "NODE_AUTH_FAILED": (False, "Check the node's user and key: the key's public half must be in the user's authorized_keys."),
    "NODE_INCOMPATIBLE": (False, "Install the same hyperdesk release, Chromium and pinned ffmpeg on the node (hyperdesk nodes provision), then test it again."),
    "NODE_PROVISION_FAILED": (False, "Fix what the message names on the node, then run hyperdesk nodes provision again."),
    "OUTPUT_EXISTS": (False, "Choose an empty or new output folder, or pass --overwrite to replace hyperdesk's own frame files in it (other files stay)."),
    "OUTPUT_INSIDE_PROJECT": (False, "Write the output outside the project, or into its output/, renders/ or dist/ folder: hyperdesk never overwrites a composition's own files."),
    "OUTSIDE_PROJECT_REFERENCE": (False, "Move the file into the project folder, or admit its folder explicitly with --allow-outside PATH."),
    "BROKEN_SYMLINK": (False, "The symbolic link points to nothing: fix or remove it."),
    "PROJECT_FILE_UNREADABLE": (False, "Make the file readable (chmod a+r), or move it out of the project folder if the composition does not use it."),
    "DURATION_TOO_LONG": (False, "Check data-duration (it is in seconds), or raise the cap with --max-frames."),
    "WEBGPU_NOT_SUPPORTED": (False, "hyperdesk renders with software WebGL only: remove data-requires-webgpu or provide a WebGL/canvas fallback."),
    "JOB_LOCKED": (False, "Another hyperdesk process is running this job: wait for it or stop it first."),
    "OUTPUT_LOCKED": (False, "Another hyperdesk job is writing this output: wait for it, or choose another output path."),
    "INTERNAL_ERROR": (False, "This is a bug in hyperdesk: please report it with the details."),
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
        default_retryable, default_hint = CODES.get(code, (False, ""))
        self.code = code
        self.message = " ".join(str(message).split())  # always one line
        self.hint = hint if hint is not None else default_hint
        self.retryable = default_retryable if retryable is None else retryable
        self.details = dict(details or {})
        super().__init__(f"{code}: {self.message}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "retryable": self.retryable,
            "details": self.details,
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
