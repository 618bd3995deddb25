"""The retry policy and chunk bookkeeping, without processes."""
from __future__ import annotations

import pytest

from hyperdesk.errors import HyperdeskError
from hyperdesk.farm.scheduler import Policy, Scheduler


def make(nodes: dict[str, int], chunks: int = 4) -> Scheduler:
    s = Scheduler([(i, i * 10, i * 10 + 10) for i in range(chunks)], Policy())
    for name, slots in nodes.items():
        s.add_node(name, slots)
        s.set_node(name, "online")
    return s


def start_all(s: Scheduler, now: float = 0.0) -> dict[int, str]:
    started = {}
    for index, node in s.assignments(now):
        n = len(s.chunks[index].attempts) + 1
        s.start_attempt(f"j-c{index}-a{n}", index, node, n)
        started[index] = f"j-c{index}-a{n}"
    return started


def lost(msg: str = "worker gone") -> HyperdeskError:
    return HyperdeskError("WORKER_LOST", msg)


def test_assignments_fill_free_slots_lowest_chunk_first():
    s = make({"local": 2, "n1": 1})
    started = start_all(s)
    assert sorted(started) == [0, 1, 2]
    assert sorted(s.attempts[a].node for a in started.values()) == ["local", "local", "n1"]
    assert s.assignments(0) == []  # every slot busy


def test_pause_stops_dispatch():
    s = make({"local": 2})
    s.paused = True
    assert s.assignments(0) == []
    s.paused = False
    assert len(s.assignments(0)) == 2


def test_non_retryable_code_fails_the_job_at_once():
    s = make({"local": 1, "n1": 1})
    started = start_all(s)
    d = s.failed(started[0], HyperdeskError("PAGE_SCRIPT_ERROR", "x is not defined"), 1.0)
    assert d.action == "fail_job" and d.job_error.code == "PAGE_SCRIPT_ERROR"


def test_retryable_failure_moves_to_another_node_with_doubling_backoff():
    s = make({"a": 1, "b": 1, "c": 1, "d": 1}, chunks=1)
    (a0,) = start_all(s).values()
    d = s.failed(a0, lost(), now=100.0)
    assert d.action == "retry" and d.retry_in_s == 2.0
    assert s.assignments(101.0) == []  # backing off
    got = s.assignments(102.0)
    assert got and got[0][1] != "a"  # never back to the node that failed it
    s.start_attempt("j-c0-a2", 0, got[0][1], 2)
    d = s.failed("j-c0-a2", lost(), now=200.0)
    assert d.retry_in_s == 4.0


def test_backoff_caps_at_60_seconds():
    p = Policy()
    assert [p.backoff(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_chunk_fails_after_three_different_nodes():
    s = make({"a": 1, "b": 1, "c": 1, "d": 1}, chunks=1)
    now = 0.0
    seen = []
    for attempt in range(1, 4):
        now += 100
        (index, node), = s.assignments(now)
        seen.append(node)
        s.start_attempt(f"j-c0-a{attempt}", 0, node, attempt)
        d = s.failed(f"j-c0-a{attempt}", HyperdeskError("BROWSER_CRASHED", "gone"), now)
    assert len(set(seen)) == 3
    assert d.action == "chunk_failed" and d.job_error.code == "BROWSER_CRASHED"
    assert sorted(d.job_error.details["failed_nodes"]) == sorted(seen)


def test_node_blocklisted_after_three_failures_in_the_job():
    s = make({"bad": 1, "good": 1}, chunks=6)
    now = 0.0
    failures = 0
    while failures < 3:
        now += 100
        for index, node in s.assignments(now):
            n = len(s.chunks[index].attempts) + 1
            s.start_attempt(f"j-c{index}-a{n}", index, node, n)
            if node == "bad":
                d = s.failed(f"j-c{index}-a{n}", lost(), now)
                failures += 1
            else:
                assert s.succeeded(f"j-c{index}-a{n}")
    assert d.node_blocklisted and s.nodes["bad"].state == "blocklisted"
    assert all(node == "good" for _, node in s.assignments(now + 1000))


def test_environment_codes_mark_the_node_incompatible_without_counting():
    s = make({"n1": 1, "local": 1}, chunks=2)
    started = start_all(s)
    on_n1 = next(a for a in started.values() if s.attempts[a].node == "n1")
    d = s.failed(on_n1, HyperdeskError("FFMPEG_VERSION_MISMATCH", "other ffmpeg"), 1.0)
    assert d.action == "node_incompatible" and s.nodes["n1"].state == "incompatible"
    chunk = s.chunks[s.attempts[on_n1].chunk_index]
    assert chunk.failures == 0 and chunk.state == "pending" and chunk.not_before == 0


def test_plan_hash_mismatch_retransfers_once_then_fails_the_job():
    s = make({"n1": 1}, chunks=1)
    (a,) = start_all(s).values()
    assert s.failed(a, HyperdeskError("PLAN_HASH_MISMATCH", "x"), 1).action == "retransfer"
    (b,) = start_all(s, 2).values()
    d = s.failed(b, HyperdeskError("PLAN_HASH_MISMATCH", "x"), 3)
    assert d.action == "fail_job" and d.job_error.code == "PLAN_HASH_MISMATCH"


def test_page_not_ready_gets_one_retry_only():
    s = make({"a": 1, "b": 1, "c": 1}, chunks=1)
    (a,) = start_all(s).values()
    assert s.failed(a, HyperdeskError("PAGE_NOT_READY", "x"), 0).action == "retry"
    (b,) = start_all(s, 100).values()
    assert s.failed(b, HyperdeskError("PAGE_NOT_READY", "x"), 100).action == "chunk_failed"


def test_a_single_node_may_retry_a_chunk_it_failed():
    """A one-machine render: the distinct-node rule cannot be met, the 3-failure limit still holds."""
    s = make({"local": 2}, chunks=1)
    for n in (1, 2, 3):
        got = s.assignments(n * 100.0)
        assert got == [(0, "local")]
        s.start_attempt(f"j-c0-a{n}", 0, "local", n)
        d = s.failed(f"j-c0-a{n}", lost(), n * 100.0)
    assert d.action == "chunk_failed"


def test_late_result_of_a_superseded_attempt_is_ignored():
    s = make({"a": 1, "b": 1}, chunks=1)
    (old,) = start_all(s).values()
    stop = s.retry_chunk(0)  # manual retry while it runs
    assert stop == [old]
    (index, node), = s.assignments(1)
    s.start_attempt("j-c0-a2", 0, node, 2)
    assert s.succeeded(old) is False  # the late result
    assert s.chunks[0].state == "running"
    assert s.succeeded("j-c0-a2") is True and s.complete()


def test_failure_of_a_superseded_attempt_changes_nothing():
    s = make({"a": 1, "b": 1}, chunks=1)
    (old,) = start_all(s).values()
    s.retry_chunk(0)
    (index, node), = s.assignments(1)
    s.start_attempt("j-c0-a2", 0, node, 2)
    assert s.succeeded("j-c0-a2")
    d = s.failed(old, lost(), 5)
    assert d.action == "ignored" and s.complete() and s.chunks[0].failures == 0


def test_no_usable_node():
    s = make({"a": 1, "b": 1})
    s.set_node("a", "incompatible", "ffmpeg differs")
    assert not s.no_usable_node()
    s.set_node("b", "refused", "HOST_KEY_CHANGED")
    assert s.no_usable_node()


def test_offline_node_is_usable_while_reconnects_remain():
    s = make({"a": 1})
    s.set_node("a", "offline")
    assert not s.no_usable_node()
    s.nodes["a"].reconnects_left = 0
    assert s.no_usable_node()


@pytest.mark.parametrize("code", ["ENCODE_FAILED"])
def test_encode_failed_may_retry_once_on_the_same_node(code):
    s = make({"a": 1, "b": 1}, chunks=1)
    (a,) = start_all(s).values()
    s.nodes["b"].running.add("busy")  # b has no free slot
    s.failed(a, HyperdeskError(code, "disk full"), 0)
    assert s.assignments(100) == [(0, "a")]
