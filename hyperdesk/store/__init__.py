"""The SQLite job store (jobs, chunks, attempts, nodes, pinned host keys); survives a crash."""
from hyperdesk.store.db import JobStore, default_store_path
from hyperdesk.store.models import (
    AttemptRecord,
    ChunkRecord,
    HostKeyRecord,
    JobRecord,
    NodeConfig,
    NodeRecord,
)

__all__ = ["JobStore", "default_store_path", "AttemptRecord", "ChunkRecord", "HostKeyRecord",
           "JobRecord", "NodeConfig", "NodeRecord"]
