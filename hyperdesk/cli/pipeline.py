"""The pipeline's steps one by one, for other orchestrators: plan, render-chunk, assemble; and setup."""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING

from hyperdesk.cli.options import add_render_options, config_from_args
from hyperdesk.dirs import asset_cache_dir
from hyperdesk.errors import HyperdeskError

if TYPE_CHECKING:
    from hyperdesk.models import ChunkResult

# ---------------------------------------------------------------- plan


def cmd_plan(args: argparse.Namespace) -> int:
    from hyperdesk.cli.progress import project_line  # lazy: see cli/__init__.py
    from hyperdesk.plan.planner import plan  # lazy: see cli/__init__.py
    from hyperdesk.plan.verify import load_plan  # lazy: see cli/__init__.py

    if args.verify:
        t0 = time.monotonic()
        loaded = load_plan(Path(args.verify))
        m = loaded.manifest
        if args.json:
            print(json.dumps({"ok": True, "plan_hash": m.plan_hash, "files": len(loaded.file_hashes)}))
        else:
            print(f"plan OK: {m.plan_hash}  ({len(loaded.file_hashes)} files, {m.size_bytes} bytes, "
                  f"verified in {time.monotonic() - t0:.2f} s)")
        return 0
    if not args.composition or not args.output:
        raise HyperdeskError("INVALID_RENDER_CONFIG",
                             "hyperdesk plan needs COMPOSITION and -o PLANDIR (or --verify PLANDIR)")
    config = config_from_args(args)
    t0 = time.monotonic()
    result = plan(Path(args.composition), config, Path(args.output), faults=args.faults)
    m = result.manifest
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), sort_keys=True))
    else:
        print(f"planned {m.composition_id}: {m.width}x{m.height} @ {m.fps.ffmpeg()} fps, {m.total_frames} frames, "
              f"{m.chunk_count} chunks, {m.format}")
        print(f"plan hash {m.plan_hash}")
        print(f"plan dir  {result.plan_dir}  ({m.size_bytes} bytes, {time.monotonic() - t0:.1f} s)")
        if m.project_files is not None:
            print(project_line(m.project_dir, m.project_scope, m.project_files, m.project_bytes or 0))
        for w in m.warnings:
            print(f"warning {w.code}: {w.message}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- render-chunk


def _write_result(out: Path, result: ChunkResult) -> Path:
    """Keep the ChunkResult beside the chunk, so `hyperdesk assemble PLANDIR -o OUT CHUNK…` finds it."""
    result_path = out.parent / f"{out.name}.result.json"
    result_path.write_text(json.dumps(result.model_dump(mode="json"), sort_keys=True, indent=2) + "\n")
    return result_path


def cmd_render_chunk(args: argparse.Namespace) -> int:
    from hyperdesk.farm.worker import run_worker  # lazy: see cli/__init__.py
    from hyperdesk.plan.chunk import render_chunk  # lazy: see cli/__init__.py

    out = Path(args.output).absolute()
    if args.json:
        # The event stream is the worker protocol (farm/protocol.py): the same one the farm reads.
        def render(plan_dir: Path, index: int, out_path: Path, **kw: object) -> ChunkResult:
            result = render_chunk(plan_dir, index, out_path, **kw)  # type: ignore[arg-type]
            _write_result(Path(out_path), result)
            return result

        attempt = args.attempt_id or f"{os.getpid()}-{secrets.token_hex(4)}"
        return run_worker(Path(args.plan_dir), args.index, out, attempt, render=render, faults=args.faults)
    result = render_chunk(Path(args.plan_dir), args.index, out, attempt_id=args.attempt_id,
                          progress=_text_progress(args.index), faults=args.faults)
    result_path = _write_result(out, result)
    print(f"\nchunk {result.chunk_index}: frames {result.start_frame}-{result.end_frame - 1}, "
          f"{result.capture_mode} capture, sha256 {result.sha256}, {result.timings.total_ms / 1000:.1f} s")
    print(f"result {result_path}")
    return 0


def _text_progress(index: int) -> Callable[[int, int], None]:
    t0 = time.monotonic()

    def report(done: int, total: int) -> None:
        rate = done / max(1e-6, time.monotonic() - t0)
        sys.stderr.write(f"\rchunk {index}: {done}/{total} frames  {rate:5.1f} fps")
        sys.stderr.flush()

    return report


# ---------------------------------------------------------------- assemble

# What a user does about a bad chunk given to `hyperdesk assemble`, which stitches what it is given
# and never fetches nor renders anything itself.
CHUNK_FIX_HINT = ("Render chunk {index} again (hyperdesk render-chunk PLANDIR {index} -o CHUNK), then run "
                  "hyperdesk assemble again with its new file: assemble only stitches the chunks it is given.")
BAD_CHUNK_CODES = ("OUTPUT_HASH_MISMATCH", "ASSEMBLE_INPUT_MISSING", "CHUNK_RESULT_INVALID")


def load_chunk_results(paths: list[str]) -> list[ChunkResult]:
    from hyperdesk.models import ChunkResult  # lazy: see cli/__init__.py

    results = []
    for raw in paths:
        p = Path(raw)
        candidates = [p] if p.suffix == ".json" and p.is_file() else [p.parent / f"{p.name}.result.json"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise HyperdeskError("ASSEMBLE_INPUT_MISSING", f"no chunk result for {p} (expected {candidates[0]})",
                                 details={"path": str(p)})
        try:
            results.append(ChunkResult.model_validate_json(found.read_text()))
        except ValueError as exc:
            raise HyperdeskError("CHUNK_RESULT_INVALID", f"{found} is not a chunk result: {exc}",
                                 details={"path": str(found)}) from None
    return results


def cmd_assemble(args: argparse.Namespace) -> int:
    from hyperdesk.plan.assemble import assemble  # lazy: see cli/__init__.py
    from hyperdesk.plan.paths import check_planned_output  # lazy: see cli/__init__.py
    from hyperdesk.plan.verify import load_plan  # lazy: see cli/__init__.py

    out = check_planned_output(args.output, load_plan(Path(args.plan_dir), verify_hash=False),
                               overwrite=args.overwrite)
    try:
        result = assemble(Path(args.plan_dir), load_chunk_results(args.chunks), out, overwrite=args.overwrite)
    except HyperdeskError as err:
        if err.code in BAD_CHUNK_CODES:
            err.hint = CHUNK_FIX_HINT.format(index=err.details.get("chunk_index", "N"))
        raise
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), sort_keys=True))
    else:
        print(f"assembled {result.frames} frames ({result.duration_s:.3f} s) -> {result.output_path}")
        print(f"sha256 {result.sha256}")
    return 0


# ---------------------------------------------------------------- setup


def cmd_setup(args: argparse.Namespace) -> int:
    """Fetch what renders need offline later: the default font face (composition contract 12.1)."""
    from hyperdesk.composition.fonts import ensure_default_font  # lazy: see cli/__init__.py

    font = ensure_default_font(asset_cache_dir())
    print(f"default font ready: {font.package}@{font.version} in {font.root}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="plan a composition into a planDir, or verify one")
    p.add_argument("composition", nargs="?")
    p.add_argument("-o", "--output", help="planDir to create")
    p.add_argument("--verify", metavar="PLANDIR", help="verify a planDir's hash and metadata")
    # Chunk sizes no longer depend on worker slots (identical output on every farm); accepted and ignored.
    p.add_argument("--slots", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true")
    add_render_options(p)
    p.set_defaults(handler=cmd_plan)

    p = sub.add_parser("render-chunk", help="render one chunk of a planDir")
    p.add_argument("plan_dir")
    p.add_argument("index", type=int)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--attempt-id", default=None)
    p.add_argument("--json", action="store_true", help="one JSON event per line on stdout, nothing else")
    p.set_defaults(handler=cmd_render_chunk)

    p = sub.add_parser("assemble", help="stitch verified chunks into the output")
    p.add_argument("plan_dir")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("chunks", nargs="+", help="chunk outputs (their .result.json beside them) or result JSON files")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file hyperdesk did not write; png-sequence: replace the frame "
                        "files of an earlier render in a non-empty output folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_assemble)

    p = sub.add_parser("setup", help="fetch the default font into the asset cache (needs the npm client once)")
    p.set_defaults(handler=cmd_setup)
