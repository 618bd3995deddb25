"""The SQLite job store: jobs, chunks, attempts, nodes and pinned host keys.

One file, `<data dir>/hyperdesk.sqlite3`, in WAL mode. Every change is committed at once, so a
crashed controller loses at most the change it was making; the scheduler is the only writer of job
state, readers (CLI, GUI) may open the same file at the same time.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from collections.abc import Iterable

from hyperdesk.dirs import data_root
from hyperdesk.store.models import (
    FINAL_JOB_STATES,
    AttemptRecord,
    ChunkRecord,
    HostKeyRecord,
    JobRecord,
    NodeConfig,
    NodeRecord,
)

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    plan_dir TEXT NOT NULL,
    plan_hash TEXT NOT NULL,
    output TEXT NOT NULL,
    format TEXT NOT NULL,
    chunk_count INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    work_dir TEXT NOT NULL,
    spec TEXT NOT NULL,
    error TEXT,
    result TEXT,
    controller_pid INTEGER,
    controller_host TEXT,
    name TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    queued_at REAL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS chunks (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start_frame INTEGER NOT NULL,
    end_frame INTEGER NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS attempts (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    chunk_idx INTEGER NOT NULL,
    number INTEGER NOT NULL,
    node TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    error_code TEXT,
    error_message TEXT,
    log_tail TEXT NOT NULL DEFAULT '[]',
    sha256 TEXT
);
CREATE INDEX IF NOT EXISTS attempts_by_chunk ON attempts(job_id, chunk_idx);
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    last_preflight TEXT,
    last_preflight_at REAL,
    incompatible_reason TEXT
);
CREATE TABLE IF NOT EXISTS host_keys (
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    pinned_at REAL NOT NULL,
    PRIMARY KEY (host, port)
);
"""


_JOB_COLUMNS_V2 = (("name", "TEXT NOT NULL DEFAULT ''"), ("priority", "INTEGER NOT NULL DEFAULT 0"),
                   ("queued_at", "REAL"), ("finished_at", "REAL"))
_JOB_FIELDS = ("id", "state", "plan_dir", "plan_hash", "output", "format", "chunk_count", "created_at", "updated_at",
               "work_dir", "spec", "error", "result", "controller_pid", "controller_host", "name", "priority",
               "queued_at", "finished_at")


def default_store_path() -> Path:
    return data_root() / "hyperdesk.sqlite3"


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class JobStore:
    """Thread-safe access to the store file (one connection, serialised by a lock)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._db.executescript(_SCHEMA)
            self._migrate()
            self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))

    def _migrate(self) -> None:
        """Schema 1 -> 2: the queue's columns on jobs (a store made by an earlier version keeps its jobs)."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for column, decl in _JOB_COLUMNS_V2:
            if column not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {decl}")
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                         (str(SCHEMA_VERSION),))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _exec(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(params))

    def _tx(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ---- jobs -------------------------------------------------------------------------------

    def create_job(self, job: JobRecord, chunks: list[tuple[int, int, int]]) -> None:
        """Insert a job and its chunks (index, start_frame, end_frame), all pending. A queued job of the same
        id (added without a plan) becomes this job: it keeps its name, priority and queue time."""
        now = time.time()
        queued = self.get_job(job.id)
        if queued is not None and queued.state == "queued":
            job = job.model_copy(update={"name": job.name or queued.name, "priority": queued.priority,
                                         "queued_at": queued.queued_at, "created_at": queued.created_at})
        values = job.model_dump()
        values["spec"] = json.dumps(job.spec, sort_keys=True)
        values["error"], values["result"] = _dumps(job.error), _dumps(job.result)
        stmts: list[tuple[str, tuple[Any, ...]]] = []
        if queued is not None and queued.state == "queued":
            stmts.append(("DELETE FROM chunks WHERE job_id = ?", (job.id,)))
            stmts.append(("DELETE FROM jobs WHERE id = ?", (job.id,)))
        stmts.append((f"INSERT INTO jobs({', '.join(_JOB_FIELDS)}) VALUES ({','.join('?' * len(_JOB_FIELDS))})",
                      tuple(values[f] for f in _JOB_FIELDS)))
        for index, start, end in chunks:
            stmts.append(("INSERT INTO chunks(job_id, idx, start_frame, end_frame, state, result, updated_at)"
                          " VALUES (?,?,?,?, 'pending', NULL, ?)", (job.id, index, start, end, now)))
        self._tx(stmts)

    def _job(self, row: sqlite3.Row) -> JobRecord:
        d = dict(row)
        d["spec"] = _loads(d["spec"]) or {}
        d["error"] = _loads(d["error"])
        d["result"] = _loads(d["result"])
        return JobRecord.model_validate(d)

    def get_job(self, job_id: str) -> JobRecord | None:
        row = self._exec("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._job(row) if row else None

    def find_job(self, prefix: str) -> JobRecord | None:
        """A job by its id or a unique prefix of it."""
        exact = self.get_job(prefix)
        if exact:
            return exact
        rows = self._exec("SELECT * FROM jobs WHERE id LIKE ? ORDER BY created_at", (prefix + "%",)).fetchall()
        return self._job(rows[0]) if len(rows) == 1 else None

    def list_jobs(self, limit: int = 100) -> list[JobRecord]:
        rows = self._exec("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [self._job(r) for r in rows]

    def update_job(self, job_id: str, **fields: Any) -> None:
        allowed = {"state", "error", "result", "controller_pid", "controller_host", "spec", "output", "name",
                   "priority", "finished_at", "queued_at"}
        if fields.get("state") in FINAL_JOB_STATES and "finished_at" not in fields:
            fields["finished_at"] = time.time()
        elif "state" in fields and fields["state"] not in FINAL_JOB_STATES:
            fields.setdefault("finished_at", None)
        sets, params = [], []
        for key, value in fields.items():
            if key not in allowed:
                raise KeyError(key)
            sets.append(f"{key} = ?")
            params.append(_dumps(value) if key in ("error", "result", "spec") else value)
        sets.append("updated_at = ?")
        params.append(time.time())
        self._exec(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*params, job_id))

    def delete_job(self, job_id: str) -> None:
        """Forget a job, its chunks and attempts (the queue's remove)."""
        self._tx([("DELETE FROM attempts WHERE job_id = ?", (job_id,)),
                  ("DELETE FROM chunks WHERE job_id = ?", (job_id,)),
                  ("DELETE FROM jobs WHERE id = ?", (job_id,))])

    def queue_jobs(self) -> list[JobRecord]:
        """Jobs of the render queue, in the order it runs them: higher priority, then earlier."""
        rows = self._exec("SELECT * FROM jobs WHERE queued_at IS NOT NULL"
                          " ORDER BY priority DESC, queued_at ASC, id ASC").fetchall()
        return [self._job(r) for r in rows]

    def get_meta(self, key: str) -> str | None:
        row = self._exec("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    # ---- chunks -----------------------------------------------------------------------------

    def chunks(self, job_id: str) -> list[ChunkRecord]:
        rows = self._exec("SELECT * FROM chunks WHERE job_id = ? ORDER BY idx", (job_id,)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["index"] = d.pop("idx")
            d["result"] = _loads(d["result"])
            out.append(ChunkRecord.model_validate(d))
        return out

    def set_chunk(self, job_id: str, index: int, state: str, result: dict[str, Any] | None = None) -> None:
        self._exec("UPDATE chunks SET state = ?, result = ?, updated_at = ? WHERE job_id = ? AND idx = ?",
                   (state, _dumps(result), time.time(), job_id, index))

    def finish_chunk(self, job_id: str, index: int, result: dict[str, Any], attempt_id: str) -> None:
        """Record an accepted chunk and its attempt in one transaction (never one without the other)."""
        now = time.time()
        self._tx([
            ("UPDATE chunks SET state = 'done', result = ?, updated_at = ? WHERE job_id = ? AND idx = ?",
             (_dumps(result), now, job_id, index)),
            ("UPDATE attempts SET state = 'done', ended_at = ?, sha256 = ? WHERE id = ?",
             (now, result.get("sha256"), attempt_id)),
        ])

    # ---- attempts ---------------------------------------------------------------------------

    def next_attempt_number(self, job_id: str, index: int) -> int:
        row = self._exec("SELECT MAX(number) FROM attempts WHERE job_id = ? AND chunk_idx = ?",
                         (job_id, index)).fetchone()
        return int(row[0] or 0) + 1

    def add_attempt(self, attempt: AttemptRecord) -> None:
        self._exec("INSERT INTO attempts(id, job_id, chunk_idx, number, node, state, started_at, ended_at,"
                   " error_code, error_message, log_tail, sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   (attempt.id, attempt.job_id, attempt.chunk_index, attempt.number, attempt.node, attempt.state,
                    attempt.started_at, attempt.ended_at, attempt.error_code, attempt.error_message,
                    json.dumps(attempt.log_tail), attempt.sha256))

    def end_attempt(self, attempt_id: str, state: str, *, error_code: str | None = None,
                    error_message: str | None = None, log_tail: list[str] | None = None,
                    sha256: str | None = None) -> None:
        self._exec("UPDATE attempts SET state = ?, ended_at = ?, error_code = ?, error_message = ?,"
                   " log_tail = ?, sha256 = COALESCE(?, sha256) WHERE id = ?",
                   (state, time.time(), error_code, error_message, json.dumps(log_tail or []), sha256, attempt_id))

    def attempts(self, job_id: str, index: int | None = None) -> list[AttemptRecord]:
        if index is None:
            rows = self._exec("SELECT * FROM attempts WHERE job_id = ? ORDER BY started_at, id", (job_id,))
        else:
            rows = self._exec("SELECT * FROM attempts WHERE job_id = ? AND chunk_idx = ? ORDER BY number",
                              (job_id, index))
        out = []
        for r in rows.fetchall():
            d = dict(r)
            d["chunk_index"] = d.pop("chunk_idx")
            d["log_tail"] = _loads(d["log_tail"]) or []
            out.append(AttemptRecord.model_validate(d))
        return out

    def close_running_attempts(self, job_id: str, state: str = "lost", code: str = "WORKER_LOST",
                               message: str = "the controller stopped while the attempt ran") -> int:
        cur = self._exec("UPDATE attempts SET state = ?, ended_at = ?, error_code = ?, error_message = ?"
                         " WHERE job_id = ? AND state = 'running'", (state, time.time(), code, message, job_id))
        return cur.rowcount

    # ---- nodes ------------------------------------------------------------------------------

    def upsert_node(self, node: NodeConfig) -> None:
        config = NodeConfig.model_validate(node.model_dump()).model_dump_json()
        self._exec("INSERT INTO nodes(name, config) VALUES (?, ?)"
                   " ON CONFLICT(name) DO UPDATE SET config = excluded.config", (node.name, config))

    def _node(self, row: sqlite3.Row) -> NodeRecord:
        cfg = json.loads(row["config"])
        rec = NodeRecord.model_validate({**cfg, "last_preflight": _loads(row["last_preflight"]),
                                         "last_preflight_at": row["last_preflight_at"],
                                         "incompatible_reason": row["incompatible_reason"]})
        pin = self.host_key(rec.host, rec.port)
        rec.host_key_fingerprint = pin.fingerprint if pin else None
        return rec

    def get_node(self, name: str) -> NodeRecord | None:
        row = self._exec("SELECT * FROM nodes WHERE name = ?", (name,)).fetchone()
        return self._node(row) if row else None

    def list_nodes(self) -> list[NodeRecord]:
        return [self._node(r) for r in self._exec("SELECT * FROM nodes ORDER BY name").fetchall()]

    def remove_node(self, name: str) -> bool:
        return self._exec("DELETE FROM nodes WHERE name = ?", (name,)).rowcount > 0

    def set_node_preflight(self, name: str, report: dict[str, Any] | None,
                           incompatible_reason: str | None) -> None:
        self._exec("UPDATE nodes SET last_preflight = ?, last_preflight_at = ?, incompatible_reason = ?"
                   " WHERE name = ?", (_dumps(report), time.time(), incompatible_reason, name))

    # ---- pinned host keys -------------------------------------------------------------------

    def host_key(self, host: str, port: int) -> HostKeyRecord | None:
        row = self._exec("SELECT * FROM host_keys WHERE host = ? AND port = ?", (host, port)).fetchone()
        return HostKeyRecord.model_validate(dict(row)) if row else None

    def pin_host_key(self, host: str, port: int, key: str, fingerprint: str) -> None:
        self._exec("INSERT INTO host_keys(host, port, key, fingerprint, pinned_at) VALUES (?,?,?,?,?)"
                   " ON CONFLICT(host, port) DO UPDATE SET key = excluded.key, fingerprint = excluded.fingerprint,"
                   " pinned_at = excluded.pinned_at", (host, port, key, fingerprint, time.time()))

    def unpin_host_key(self, host: str, port: int) -> bool:
        return self._exec("DELETE FROM host_keys WHERE host = ? AND port = ?", (host, port)).rowcount > 0

