"""Faults a test asks for, passed in explicitly — never read from the environment.

Production code takes an optional `FaultPlan` where a test needs to reach it (the planner, a
chunk render, a worker, an executor) and does nothing different when it is None. A plan crosses a
process boundary as the hidden top-level option `hyperdesk --faults JSON COMMAND …`, which the
executors add to the commands they start; a user never needs it.
"""
from __future__ import annotations


from pydantic import BaseModel, ConfigDict, Field


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # What this machine reports of itself (NODE_INCOMPATIBLE / *_VERSION_MISMATCH paths).
    ffmpeg_identity: str | None = None
    browser_version: str | None = None
    gl_renderer: str | None = None  # the WebGL renderer string the software-GL assertion reads
    # A shorter page-readiness limit (seconds) than the 45 s default, for tests of pages that never get ready.
    ready_timeout_s: float | None = Field(default=None, gt=0)
    # The asset resolver's direct-download tier contacts loopback hosts only (plain http allowed there).
    loopback_only: bool = False
    # A worker stops sending events after this many frames and hangs (stall detection).
    stall_after_frames: int | None = Field(default=None, ge=0)
    # ... only the first worker that creates this file stalls; later attempts run normally.
    stall_once_path: str | None = None
    # The controller flips one byte in each of the first N chunk downloads from SSH nodes.
    corrupt_transfers: int = Field(default=0, ge=0)

    def to_arg(self) -> str:
        """The value of `hyperdesk --faults` (compact JSON, only the fields set)."""
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def from_arg(cls, text: str | None) -> FaultPlan | None:
        if not text:
            return None
        return cls.model_validate_json(text)

    @property
    def empty(self) -> bool:
        return self == FaultPlan()


def fault_args(faults: FaultPlan | None) -> list[str]:
    """The words to put right after `hyperdesk` in a command line, or none."""
    if faults is None or faults.empty:
        return []
    return ["--faults", faults.to_arg()]
