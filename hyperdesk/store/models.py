"""Records of the job store: read-only snapshots the CLI and the GUI may hold on to."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# queued: waiting in the render queue (no plan yet); interrupted: its controller died (found at the next start)
JobState = Literal["queued", "running", "paused", "assembling", "done", "failed", "cancelled", "interrupted"]
FINAL_JOB_STATES = ("done", "failed", "cancelled")
ChunkState = Literal["pending", "running", "done", "failed"]
AttemptState = Literal["running", "done", "failed", "lost", "stalled", "cancelled", "superseded"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class NodeConfig(_Record):
    """An SSH render node as the user registered it (or as given with --node), or a saved Dask cluster."""

    name: str
    host: str
    port: int = 22
    user: str | None = None
    key_path: str | None = None
    slots: int = Field(default=1, ge=1)
    label: str | None = None
    # argv of hyperdesk on the node; every word is shell-quoted when a command is built
    remote_command: list[str] = Field(default_factory=lambda: ["hyperdesk"])
    # extra environment of every remote command (e.g. HYPERDESK_CACHE_DIR)
    remote_env: dict[str, str] = Field(default_factory=dict)
    # a Dask cluster entry: its scheduler's address (tcp://HOST:PORT); host and port are the scheduler's
    scheduler: str | None = None

    @property
    def kind(self) -> str:
        return "dask" if self.scheduler else "ssh"

    @property
    def address(self) -> str:
        if self.scheduler:
            return self.scheduler
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}:{self.port}"


class NodeRecord(NodeConfig):
    last_preflight: dict[str, Any] | None = None
    last_preflight_at: float | None = None
    incompatible_reason: str | None = None
    host_key_fingerprint: str | None = None


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
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    controller_pid: int | None = None
    controller_host: str | None = None
    name: str = ""  # for lists: the composition id, its <title>, or its folder
    priority: int = 0  # the queue runs higher priorities first
    queued_at: float | None = None  # set for jobs of the render queue
    finished_at: float | None = None

    @property
    def missing_assets(self) -> list[str]:
        """The remote assets a done job was rendered without (`--allow-missing-assets`)."""
        return list((self.result or {}).get("missing_assets") or [])


class ChunkRecord(_Record):
    job_id: str
    index: int
    start_frame: int
    end_frame: int
    state: ChunkState
    result: dict[str, Any] | None = None  # the accepted ChunkResult, output_path on this machine
    updated_at: float


class AttemptRecord(_Record):
    id: str
    job_id: str
    chunk_index: int
    number: int
    node: str
    state: AttemptState
    started_at: float
    ended_at: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    log_tail: list[str] = Field(default_factory=list)
    sha256: str | None = None
