"""Chunk boundaries on a fixed keyframe grid (plan-contract.md section 6).

One deviation from section 6: the auto size divides N by a constant `auto_split` (4), not by the
worker slots known at plan time. Boundaries are where every chunk's encoder starts afresh, so they
change the encoded pixels; they must depend on the composition and the settings only, never on
how many workers this machine or farm has.

A second one, for the auto size only: the last chunk is split in two (``split_last``). A short
composition is a few keyframe intervals (10 s at 30 fps: five of 60 frames, chunks 120/120/60); on
two slots the last chunk then ran alone, one slot idle for its whole length (3.1 s of a 19 s render
at 720p, 5.5 s of 31 s at 1080p). Split 30/30 each slot takes half of it. The split point is on the
keyframe grid when a grid point divides the last chunk no worse than 1:2; otherwise it is the
middle, and the output gets one extra keyframe there (``ChunkTable.keyframe_frames``: the encoder
forces one every G frames from each chunk's start, and assembly verifies exactly those).
"""
from __future__ import annotations

import math

from hyperdesk.errors import HyperdeskError
from hyperdesk.models import ChunkPolicy, ChunkSlice, ChunkTable


def _round_up(value: int, g: int) -> int:
    return ((value + g - 1) // g) * g


def plan_chunks(total_frames: int, g: int, policy: ChunkPolicy) -> ChunkTable:
    if g < 1:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"keyframe interval must be >= 1, got {g}",
                             details={"field": "keyframe_interval", "value": g})
    for field in ("target_chunk_frames", "max_chunk_frames", "max_chunks", "auto_split"):
        if getattr(policy, field) < 1:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"{field} must be >= 1",
                                 details={"field": field, "value": getattr(policy, field)})
    if policy.explicit_chunk_frames is not None and policy.explicit_chunk_frames < 1:
        raise HyperdeskError("INVALID_RENDER_CONFIG", "chunk size must be >= 1 frame",
                             details={"field": "chunk_frames", "value": policy.explicit_chunk_frames})
    n = total_frames
    min_frames = policy.min_chunk_frames if policy.min_chunk_frames is not None else g
    if policy.explicit_chunk_frames is not None:
        raw = policy.explicit_chunk_frames
    else:
        raw = max(min(policy.target_chunk_frames, math.ceil(n / policy.auto_split)), min_frames)
    size = _round_up(raw, g)
    size = min(size, max(g, (policy.max_chunk_frames // g) * g))
    count = math.ceil(n / size)
    if count > policy.max_chunks:
        size = _round_up(math.ceil(n / policy.max_chunks), g)
        count = math.ceil(n / size)
    chunks = []
    for i in range(count):
        start = i * size
        if start >= n:
            break
        chunks.append(ChunkSlice(index=i, start_frame=start, end_frame=min(n, (i + 1) * size)))
    if policy.explicit_chunk_frames is None and len(chunks) < policy.max_chunks:
        chunks = split_last(chunks, g)
    policy = policy.model_copy(update={"min_chunk_frames": min_frames})
    return ChunkTable(total_frames=n, keyframe_interval=g, chunk_frames=size, chunks=chunks, policy=policy)


# A piece of a split last chunk is at least this many frames (and a quarter interval): below it the
# chunk's fixed cost (warm-up frame, encoder start and flush) outweighs what the split saves.
MIN_SPLIT_PIECE = 8


def split_last(chunks: list[ChunkSlice], g: int) -> list[ChunkSlice]:
    """The chunks with the last one split in two, when there are several and it is long enough."""
    if len(chunks) < 2:
        return chunks
    last = chunks[-1]
    length = last.end_frame - last.start_frame
    cut = length // 2
    if length > g:
        on_grid = min(max(g, round(length / 2 / g) * g), ((length - 1) // g) * g)
        if 3 * min(on_grid, length - on_grid) >= length:  # near enough to the middle: no extra keyframe
            cut = on_grid
    if min(cut, length - cut) < max(MIN_SPLIT_PIECE, g // 4):
        return chunks
    mid = last.start_frame + cut
    return [*chunks[:-1],
            ChunkSlice(index=last.index, start_frame=last.start_frame, end_frame=mid),
            ChunkSlice(index=last.index + 1, start_frame=mid, end_frame=last.end_frame)]
