"""Records of the job store: read-only snapshots the CLI and the GUI may hold on to."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["running", "paused", "assembling", "done", "failed", "cancelled"]
ChunkState = Literal["pending", "running", "done", "failed"]
AttemptState = Literal["running", "done", "failed", "lost", "stalled", "cancelled", "superseded"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class NodeConfig(_Record):
    """An SSH render node as the user registered it (or as given with --node)."""

    name: str
    host: str
    port: int = 22
    user: Optional[str] = None
    key_path: Optional[str] = None
    slots: int = Field(default=1, ge=1)
    label: Optional[str] = None
    # argv of hyperdesk on the node; every word is shell-quoted when a command is built
    remote_command: list[str] = Field(default_factory=lambda: ["hyperdesk"])
    # extra environment of every remote command (e.g. HYPERDESK_CACHE_DIR)
    remote_env: dict[str, str] = Field(default_factory=dict)

    @property
    def address(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}:{self.port}"


class NodeRecord(NodeConfig):
    last_preflight: Optional[dict[str, Any]] = None
    last_preflight_at: Optional[float] = None
    incompatible_reason: Optional[str] = None
    host_key_fingerprint: Optional[str] = None


class HostKeyRecord(_Record):
    host: str
    port: int
    key: str  # OpenSSH public key text
    fingerprint: str  # SHA256:...
    pinned_at: float


class JobRecord(_Record):
    id: str
    state: JobState
    plan_dir: str
    plan_hash: str
    output: str
    format: str
    chunk_count: int
    created_at: float
    updated_at: float
    work_dir: str
    spec: dict[str, Any] = Field(default_factory=dict)  # how to run it again: local slots, node names
    error: Optional[dict[str, Any]] = None
    result: Optional[dict[str, Any]] = None
    controller_pid: Optional[int] = None
    controller_host: Optional[str] = None


class ChunkRecord(_Record):
    job_id: str
    index: int
    start_frame: int
    end_frame: int
    state: ChunkState
    result: Optional[dict[str, Any]] = None  # the accepted ChunkResult, output_path on this machine
    updated_at: float


class AttemptRecord(_Record):
    id: str
    job_id: str
    chunk_index: int
    number: int
    node: str
    state: AttemptState
    started_at: float
    ended_at: Optional[float] = None
    error_code: Optional[str] = None
    error_message: Optional[str] = None
    log_tail: list[str] = Field(default_factory=list)
    sha256: Optional[str] = None
