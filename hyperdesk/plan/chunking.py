"""Chunk boundaries on a fixed keyframe grid (plan-contract.md section 6).

One deviation from section 6: the auto size divides N by a constant `auto_split` (4), not by the
worker slots known at plan time. Boundaries are where every chunk's encoder starts afresh, so they
change the encoded pixels; they must depend on the composition and the settings only, never on
how many workers this machine or farm has.
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
    policy = policy.model_copy(update={"min_chunk_frames": min_frames})
    return ChunkTable(total_frames=n, keyframe_interval=g, chunk_frames=size, chunks=chunks, policy=policy)
