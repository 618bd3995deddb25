"""Chunk boundaries (plan-contract 6): the contract's worked examples, and the keyframe grid."""
import pytest

from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.chunking import plan_chunks
from hyperdesk.models import ChunkPolicy


@pytest.mark.parametrize("frames,size,sizes", [
    (300, 120, [120, 120, 30, 30]),  # ceil(300 / 4) = 75 -> 120; the last 60 split in two
    (1000, 240, [240] * 4 + [20, 20]),  # 250 -> capped at the 240 target
    (480, 120, [120, 120, 120, 60, 60]),  # the last 120 split on the keyframe grid
    (50, 60, [50]),  # one chunk stays one chunk
    (61, 60, [60, 1]),  # pieces under 15 frames (a quarter interval) are not worth a chunk
])
def test_auto_size_examples(frames, size, sizes):
    table = plan_chunks(frames, 60, ChunkPolicy())
    assert table.chunk_frames == size
    assert [c.end_frame - c.start_frame for c in table.chunks] == sizes


def test_policy_has_no_worker_count():
    """Chunk boundaries change the encoded pixels: nothing about the planning machine's workers
    may enter the policy (it is in chunks.json, so in the plan hash too)."""
    assert "parallel_slots" not in ChunkPolicy.model_fields
    assert "parallel_slots" not in plan_chunks(300, 60, ChunkPolicy()).model_dump()["policy"]


def test_chunk_cap_wins_over_max_size():
    table = plan_chunks(100_000, 60, ChunkPolicy())
    assert table.chunk_frames == 1620
    assert len(table.chunks) == 63  # 62 of the capped size, the last 1180 split 600 / 580 on the grid
    assert [c.end_frame - c.start_frame for c in table.chunks[-2:]] == [600, 580]
    full = plan_chunks(64 * 60, 60, ChunkPolicy(max_chunks=64, target_chunk_frames=60))
    assert len(full.chunks) == 64  # at the cap nothing is split


@pytest.mark.parametrize("frames,g,explicit", [(97, 15, 20), (301, 60, None), (45, 15, 15), (1, 1, None)])
def test_chunks_cover_exactly_and_start_on_keyframes(frames, g, explicit):
    table = plan_chunks(frames, g, ChunkPolicy(explicit_chunk_frames=explicit))
    assert table.chunks[0].start_frame == 0 and table.chunks[-1].end_frame == frames
    for a, b in zip(table.chunks, table.chunks[1:]):
        assert a.end_frame == b.start_frame
    # every chunk starts on the keyframe grid but a split last one; its keyframes count from its start
    assert all(c.start_frame % g == 0 for c in table.chunks[:-1])
    assert table.chunk_frames % g == 0
    last = table.chunks[-1].start_frame
    assert table.keyframe_frames() == list(range(0, last, g)) + list(range(last, frames, g))


def test_a_split_last_chunk_starts_between_grid_points_only_when_the_grid_cannot_halve_it():
    assert [(c.start_frame, c.end_frame) for c in plan_chunks(301, 60, ChunkPolicy()).chunks[-2:]] == [
        (240, 270), (270, 301)]
    assert plan_chunks(301, 60, ChunkPolicy()).keyframe_frames() == [0, 60, 120, 180, 240, 270]
    assert [(c.start_frame, c.end_frame) for c in plan_chunks(900, 60, ChunkPolicy()).chunks[-2:]] == [
        (720, 840), (840, 900)]  # 180 frames: 120 / 60 on the grid is near enough to the middle
    assert plan_chunks(900, 60, ChunkPolicy()).keyframe_frames() == list(range(0, 900, 60))


def test_an_explicit_chunk_size_is_never_split():
    table = plan_chunks(300, 60, ChunkPolicy(explicit_chunk_frames=120))
    assert [c.end_frame - c.start_frame for c in table.chunks] == [120, 120, 60]
    assert table.keyframe_frames() == list(range(0, 300, 60))


def test_explicit_size_rounds_up_to_keyframe_interval():
    table = plan_chunks(90, 15, ChunkPolicy(explicit_chunk_frames=20))
    assert table.chunk_frames == 30 and len(table.chunks) == 3


@pytest.mark.parametrize("field,value", [("keyframe", 0), ("max_chunks", 0), ("explicit_chunk_frames", 0)])
def test_bad_policy_is_invalid_render_config(field, value):
    with pytest.raises(HyperdeskError) as info:
        if field == "keyframe":
            plan_chunks(100, value, ChunkPolicy())
        else:
            plan_chunks(100, 15, ChunkPolicy(**{field: value}))
    assert info.value.code == "INVALID_RENDER_CONFIG"
