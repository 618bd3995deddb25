"""Chunk and node bookkeeping and the retry policy: pure logic, no processes, no I/O.

The controller asks `assignments()` which chunk to start on which node and reports every attempt's
end with `succeeded()` / `failed()`; the answer says what to do next. The rules (plan-contract 9.3,
Flamenco's failure rules):

* a non-retryable code fails the job at once with that code;
* an environment code (ffmpeg, Chromium or hyperdesk version, plan protocol, GPU) marks the node
  incompatible and the chunk goes elsewhere without counting as a failure;
* PLAN_HASH_MISMATCH / MISSING_PLAN_ARTIFACT: the controller re-verifies its copy and re-transfers;
  the chunk is retried once;
* any other retryable code: the node has failed that chunk, the chunk waits 2 s, doubling up to 60 s,
  and goes to a node that has not failed it. A chunk fails after 3 failed attempts on different nodes;
  a node is blocklisted for the job after 3 failures. When every usable node has already failed a
  chunk (e.g. a one-machine render), the chunk may go back to one of them: the distinct-node rule
  cannot be met, and the 3-failure limit still ends it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hyperdesk.errors import HyperdeskError

NODE_ENV_CODES = frozenset({"PLAN_PROTOCOL_UNSUPPORTED", "FFMPEG_VERSION_MISMATCH", "BROWSER_VERSION_MISMATCH",
                            "RENDERER_VERSION_MISMATCH"})
RETRANSFER_CODES = frozenset({"PLAN_HASH_MISMATCH", "MISSING_PLAN_ARTIFACT"})
# Codes whose own limit is lower than the general one: PAGE_NOT_READY gets one retry elsewhere.
CODE_ATTEMPT_LIMIT = {"PAGE_NOT_READY": 2}
# Codes that may retry on the same node once (a full disk clears).
SAME_NODE_ONCE = frozenset({"ENCODE_FAILED"})

NodeState = Literal["connecting", "online", "offline", "incompatible", "blocklisted", "refused", "closed"]
ChunkStateName = Literal["pending", "running", "done", "failed"]
Action = Literal["ignored", "retry", "retransfer", "node_incompatible", "node_lost", "chunk_failed", "fail_job",
                 "cancelled"]


@dataclass
class Policy:
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 60.0
    chunk_failure_limit: int = 3  # a chunk fails after this many failed attempts (on distinct nodes)
    node_failure_limit: int = 3  # a node is blocklisted for the job after this many failures

    def backoff(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.backoff_cap_s, self.backoff_base_s * 2 ** (failures - 1))


@dataclass
class ChunkSlot:
    index: int
    start_frame: int
    end_frame: int
    state: ChunkStateName = "pending"
    failures: int = 0
    failed_nodes: dict[str, int] = field(default_factory=dict)
    code_counts: dict[str, int] = field(default_factory=dict)
    not_before: float = 0.0
    attempts: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)
    retransfers: int = 0
    last_error: HyperdeskError | None = None
    same_node_ok: str | None = None  # a node allowed to retry it once more (ENCODE_FAILED)

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame


@dataclass
class NodeSlot:
    name: str
    slots: int
    state: NodeState = "connecting"
    reason: str | None = None
    error: HyperdeskError | None = None
    failures: int = 0
    running: set[str] = field(default_factory=set)
    reconnects_left: int = 3

    @property
    def free(self) -> int:
        return max(0, self.slots - len(self.running)) if self.state == "online" else 0

    @property
    def usable(self) -> bool:
        """Could this node still take work in this job (now or after reconnecting)?"""
        return self.state in ("connecting", "online") or (self.state == "offline" and self.reconnects_left > 0)


@dataclass
class AttemptSlot:
    id: str
    chunk_index: int
    node: str
    number: int
    superseded: bool = False
    finished: bool = False


@dataclass
class Decision:
    action: Action
    retry_in_s: float = 0.0
    node_blocklisted: bool = False
    job_error: HyperdeskError | None = None
    message: str = ""


class Scheduler:
    def __init__(self, chunks: list[tuple[int, int, int]], policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self.chunks: dict[int, ChunkSlot] = {i: ChunkSlot(i, s, e) for i, s, e in chunks}
        self.nodes: dict[str, NodeSlot] = {}
        self.attempts: dict[str, AttemptSlot] = {}
        self.paused = False

    # ---- nodes ------------------------------------------------------------------------------

    def add_node(self, name: str, slots: int) -> NodeSlot:
        node = self.nodes.get(name)
        if node is None:
            node = self.nodes[name] = NodeSlot(name, slots)
        return node

    def set_node(self, name: str, state: NodeState, reason: str | None = None,
                 error: HyperdeskError | None = None) -> NodeSlot:
        node = self.nodes[name]
        node.state = state
        node.reason = reason
        if error is not None:
            node.error = error
        return node

    # ---- chunks -----------------------------------------------------------------------------

    def mark_done(self, index: int) -> None:
        """A chunk kept from before (resume): nothing to render."""
        self.chunks[index].state = "done"

    def requeue(self, index: int, *, reset_failures: bool = False) -> None:
        chunk = self.chunks[index]
        chunk.state = "pending"
        chunk.not_before = 0.0
        if reset_failures:
            chunk.failures = 0
            chunk.failed_nodes.clear()
            chunk.code_counts.clear()
            chunk.retransfers = 0
            chunk.last_error = None

    def complete(self) -> bool:
        return all(c.state == "done" for c in self.chunks.values())

    def pending(self) -> list[ChunkSlot]:
        return [c for c in self.chunks.values() if c.state == "pending"]

    def running_attempts(self) -> list[AttemptSlot]:
        return [a for a in self.attempts.values() if not a.finished]

    def _eligible(self, chunk: ChunkSlot, node: NodeSlot) -> bool:
        if node.name not in chunk.failed_nodes:
            return True
        if chunk.same_node_ok == node.name:
            return True
        # Distinct-node rule, unless every usable node has already failed this chunk.
        return all(n.name in chunk.failed_nodes for n in self.nodes.values() if n.usable)

    def assignments(self, now: float, limits: dict[str, int] | None = None) -> list[tuple[int, str]]:
        """Chunks to start now, lowest index first, each on a node with a free slot. `limits` caps the new
        starts per node (slots it shares with other jobs)."""
        if self.paused:
            return []
        limits = limits or {}
        free = {n.name: min(n.free, limits.get(n.name, n.free)) for n in self.nodes.values()}
        free = {name: n for name, n in free.items() if n > 0}
        out: list[tuple[int, str]] = []
        for chunk in sorted(self.pending(), key=lambda c: c.index):
            if chunk.not_before > now or not free:
                continue
            # Prefer nodes that have not failed the chunk, then the one with the most free slots.
            candidates = sorted((n for n in free if self._eligible(chunk, self.nodes[n])),
                                key=lambda n: (n in chunk.failed_nodes, -free[n], n))
            if not candidates:
                continue
            name = candidates[0]
            out.append((chunk.index, name))
            chunk.state = "running"  # reserved; start_attempt follows
            free[name] -= 1
            if free[name] == 0:
                del free[name]
        return out

    def next_wakeup(self, now: float) -> float | None:
        """When the earliest backed-off chunk becomes ready (None if nothing waits on time)."""
        times = [c.not_before for c in self.pending() if c.not_before > now]
        return min(times) if times else None

    def no_usable_node(self) -> bool:
        return bool(self.nodes) and not any(n.usable for n in self.nodes.values())

    # ---- attempts ---------------------------------------------------------------------------

    def start_attempt(self, attempt_id: str, chunk_index: int, node: str, number: int) -> AttemptSlot:
        chunk = self.chunks[chunk_index]
        chunk.state = "running"
        chunk.attempts.append(attempt_id)
        chunk.running.add(attempt_id)
        if chunk.same_node_ok == node:
            chunk.same_node_ok = None
        self.nodes[node].running.add(attempt_id)
        slot = self.attempts[attempt_id] = AttemptSlot(attempt_id, chunk_index, node, number)
        return slot

    def unreserve(self, chunk_index: int) -> None:
        """An assignment that could not start (node went away before the attempt began)."""
        chunk = self.chunks[chunk_index]
        if chunk.state == "running" and not chunk.running:
            chunk.state = "pending"

    def _end(self, attempt_id: str) -> tuple[AttemptSlot, ChunkSlot, NodeSlot]:
        a = self.attempts[attempt_id]
        a.finished = True
        chunk = self.chunks[a.chunk_index]
        chunk.running.discard(attempt_id)
        node = self.nodes[a.node]
        node.running.discard(attempt_id)
        return a, chunk, node

    def supersede(self, attempt_id: str) -> None:
        """Its result, if it still comes, is ignored."""
        self.attempts[attempt_id].superseded = True

    def succeeded(self, attempt_id: str) -> bool:
        """True when the result is accepted; False for a late or superseded one (ignore it)."""
        a, chunk, node = self._end(attempt_id)
        if a.superseded or chunk.state == "done":
            if chunk.state == "running" and not chunk.running:
                chunk.state = "pending"
            return False
        chunk.state = "done"
        chunk.last_error = None
        return True

    def failed(self, attempt_id: str, err: HyperdeskError, now: float, *, cancelling: bool = False) -> Decision:
        a, chunk, node = self._end(attempt_id)
        if a.superseded or chunk.state == "done":
            if chunk.state == "running" and not chunk.running:
                chunk.state = "pending"
            return Decision("ignored", message="a superseded attempt ended")
        chunk.last_error = err
        if cancelling or err.code == "CANCELLED":
            chunk.state = "pending"
            return Decision("cancelled")
        code = err.code
        if code in NODE_ENV_CODES or (code == "BROWSER_GPU_NOT_SOFTWARE" and "browser_gpu_mode" not in err.details):
            node.state = "incompatible"
            node.reason = err.message
            node.error = err
            chunk.state = "pending"
            return Decision("node_incompatible", message=f"{node.name} is incompatible: {err.message}")
        if code in RETRANSFER_CODES:
            if chunk.retransfers >= 1:
                chunk.state = "failed"
                return Decision("fail_job", job_error=err,
                                message="the plan failed verification again after a re-transfer")
            chunk.retransfers += 1
            chunk.state = "pending"
            return Decision("retransfer", message="re-verify the plan and transfer it again")
        if not err.retryable:
            chunk.state = "failed"
            return Decision("fail_job", job_error=err, message=f"{code} is not retryable")
        # A retryable failure: this node has failed this chunk.
        chunk.failures += 1
        chunk.failed_nodes[node.name] = chunk.failed_nodes.get(node.name, 0) + 1
        chunk.code_counts[code] = chunk.code_counts.get(code, 0) + 1
        node.failures += 1
        blocklisted = False
        node_lost = bool(err.details.get("node_lost"))
        if node.failures >= self.policy.node_failure_limit and node.state not in ("incompatible", "refused"):
            node.state = "blocklisted"
            node.reason = f"{node.failures} failures in this job"
            blocklisted = True
        if code in SAME_NODE_ONCE and chunk.code_counts[code] == 1:
            chunk.same_node_ok = node.name
        limit = min(self.policy.chunk_failure_limit, CODE_ATTEMPT_LIMIT.get(code, self.policy.chunk_failure_limit))
        if chunk.failures >= limit:
            chunk.state = "failed"
            nodes = ", ".join(sorted(chunk.failed_nodes))
            job_err = HyperdeskError(code, f"chunk {chunk.index} failed {chunk.failures} times (on {nodes}); last: "
                                           f"{err.message}", hint=err.hint, retryable=False,
                                     details={**err.details, "chunk_index": chunk.index,
                                              "failed_nodes": sorted(chunk.failed_nodes)})
            return Decision("chunk_failed", node_blocklisted=blocklisted, job_error=job_err,
                            message=f"chunk {chunk.index} failed on {len(chunk.failed_nodes)} nodes")
        delay = self.policy.backoff(chunk.failures)
        chunk.state = "pending"
        chunk.not_before = now + delay
        return Decision("node_lost" if node_lost else "retry", retry_in_s=delay, node_blocklisted=blocklisted,
                        message=f"retry in {delay:.0f} s on another node")

    def retry_chunk(self, index: int) -> list[str]:
        """Manual requeue: forget the chunk's failures (and forgive blocklisted nodes); return attempts to stop."""
        chunk = self.chunks[index]
        to_stop = list(chunk.running)
        for attempt_id in to_stop:
            self.supersede(attempt_id)
        self.requeue(index, reset_failures=True)
        for node in self.nodes.values():
            if node.state == "blocklisted":
                node.state = "online"
                node.reason = None
                node.failures = 0
        return to_stop

    def avoid_node(self, index: int, node: str) -> None:
        """Prefer every other node for this chunk: the distinct-node rule treats `node` as having failed it;
        it gets the chunk again only when no other usable node is left."""
        chunk = self.chunks[index]
        chunk.failed_nodes[node] = chunk.failed_nodes.get(node, 0) + 1
