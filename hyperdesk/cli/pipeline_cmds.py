"""The pipeline on the command line: render, plan, render-chunk, assemble, setup."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from hyperdesk.errors import HyperdeskError


def _add_render_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="mp4", help="output format: mp4 (default), mov, webm or png-sequence")
    p.add_argument("--quality", default="standard", choices=["draft", "standard", "high"])
    p.add_argument("--fps", default=None, help="frame rate: an integer 1-240 or num/den (default: data-fps, else 30)")
    p.add_argument("--crf", type=int, default=None)
    p.add_argument("--bitrate", default=None)
    p.add_argument("--variables", default=None, help="JSON object of variable overrides")
    p.add_argument("--asset-dir", action="append", default=[], dest="asset_dirs", metavar="DIR",
                   help="directory of offline copies of remote assets (repeatable)")
    p.add_argument("--allow-outside", action="append", default=[], dest="allow_outside", metavar="PATH",
                   help="let the composition read files in this folder outside the project (repeatable)")
    p.add_argument("--chunk-size", type=int, default=None, help="frames per chunk (rounded up to the keyframe interval)")
    p.add_argument("--keyframe-interval", type=int, default=None, help="frames between keyframes (default 2 s)")
    p.add_argument("--no-audio", action="store_true", help="render without an audio stream")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="refuse a composition longer than N frames (default 864000: 4 h at 60 fps)")
    p.add_argument("--entry", default="index.html", help="entry file when COMPOSITION is a folder")


def config_from_args(args: argparse.Namespace):
    from hyperdesk.plan.config import RenderConfig

    variables: dict[str, Any] = {}
    if args.variables:
        try:
            variables = json.loads(args.variables)
        except ValueError as exc:
            raise HyperdeskError("INVALID_RENDER_CONFIG", f"--variables is not valid JSON: {exc}",
                                 details={"field": "variables", "value": args.variables}) from None
        if not isinstance(variables, dict):
            raise HyperdeskError("INVALID_RENDER_CONFIG", "--variables must be a JSON object",
                                 details={"field": "variables", "value": args.variables})
    entry = args.entry
    comp = Path(args.composition)
    if comp.is_file():
        entry = comp.name
    return RenderConfig(
        entry=entry, format=args.format, quality=args.quality, fps=args.fps, crf=args.crf, bitrate=args.bitrate,
        keyframe_interval=args.keyframe_interval, chunk_frames=args.chunk_size,
        include_audio=not args.no_audio, variables=variables,
        asset_dirs=[str(Path(d).absolute()) for d in args.asset_dirs],
        allow_outside=[str(Path(d).expanduser().absolute()) for d in getattr(args, "allow_outside", None) or []],
        **({"max_frames": args.max_frames} if getattr(args, "max_frames", None) is not None else {}),
    )


def composition_source(args: argparse.Namespace) -> tuple[Path, str]:
    """(project dir, entry file) named by COMPOSITION and --entry."""
    from hyperdesk.plan.planner import resolve_composition

    comp = Path(args.composition)
    return resolve_composition(comp, None if comp.is_file() else args.entry)


def check_stall_timeout(value: float | None) -> None:
    import math

    if value is not None and not (math.isfinite(value) and value > 0):
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"--stall-timeout must be a number of seconds above 0, got {value}",
                             details={"field": "stall_timeout", "value": value})


# ---------------------------------------------------------------- render


def cmd_render(args: argparse.Namespace) -> int:
    """plan (cached) -> chunks on local workers and any SSH nodes -> assemble: one path for every render."""
    from hyperdesk.cli import farm_cmds
    from hyperdesk.plan.paths import check_output

    if args.workers is not None and args.local is None:
        args.local = args.workers
    if args.local is not None and args.local < 0:
        raise HyperdeskError("INVALID_RENDER_CONFIG", "--workers/--local must be >= 0",
                             details={"field": "local", "value": args.local})
    check_stall_timeout(args.stall_timeout)
    project, entry = composition_source(args)
    out = check_output(args.output, args.format, project=project, entry=entry, overwrite=args.overwrite)
    config = config_from_args(args)
    return farm_cmds.run_farm_render_from_args(args, config, out)


# ---------------------------------------------------------------- plan


def cmd_plan(args: argparse.Namespace) -> int:
    from hyperdesk.plan.planner import plan
    from hyperdesk.plan.verify import load_plan

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
        raise HyperdeskError("INVALID_RENDER_CONFIG", "hyperdesk plan needs COMPOSITION and -o PLANDIR (or --verify PLANDIR)")
    config = config_from_args(args)
    t0 = time.monotonic()
    result = plan(Path(args.composition), config, Path(args.output))
    m = result.manifest
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), sort_keys=True))
    else:
        print(f"planned {m.composition_id}: {m.width}x{m.height} @ {m.fps.ffmpeg()} fps, {m.total_frames} frames, "
              f"{m.chunk_count} chunks, {m.format}")
        print(f"plan hash {m.plan_hash}")
        print(f"plan dir  {result.plan_dir}  ({m.size_bytes} bytes, {time.monotonic() - t0:.1f} s)")
        for w in m.warnings:
            print(f"warning {w.code}: {w.message}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- render-chunk


def _write_result(out: Path, result) -> Path:
    """Keep the ChunkResult beside the chunk, so `hyperdesk assemble PLANDIR -o OUT CHUNK…` finds it."""
    result_path = out.parent / f"{out.name}.result.json"
    result_path.write_text(json.dumps(result.model_dump(mode="json"), sort_keys=True, indent=2) + "\n")
    return result_path


def cmd_render_chunk(args: argparse.Namespace) -> int:
    import secrets

    from hyperdesk.plan.chunk import render_chunk

    out = Path(args.output).absolute()
    if args.json:
        # The event stream is the worker protocol (farm/protocol.py): the same one the farm reads.
        from hyperdesk.farm.worker import run_worker

        def render(plan_dir, index, out_path, **kwargs):
            result = render_chunk(plan_dir, index, out_path, **kwargs)
            _write_result(Path(out_path), result)
            return result

        attempt = args.attempt_id or f"{os.getpid()}-{secrets.token_hex(4)}"
        return run_worker(Path(args.plan_dir), args.index, out, attempt, render=render)
    result = render_chunk(Path(args.plan_dir), args.index, out, attempt_id=args.attempt_id,
                          progress=_text_progress(args.index), faults=args.faults)
    result_path = _write_result(out, result)
    print(f"\nchunk {result.chunk_index}: frames {result.start_frame}-{result.end_frame - 1}, "
          f"{result.capture_mode} capture, sha256 {result.sha256}, {result.timings.total_ms / 1000:.1f} s")
    print(f"result {result_path}")
    return 0


def _text_progress(index: int):
    t0 = time.monotonic()

    def report(done: int, total: int) -> None:
        rate = done / max(1e-6, time.monotonic() - t0)
        sys.stderr.write(f"\rchunk {index}: {done}/{total} frames  {rate:5.1f} fps")
        sys.stderr.flush()

    return report


# ---------------------------------------------------------------- assemble


def load_chunk_results(paths: list[str]):
    from hyperdesk.models import ChunkResult

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
    from hyperdesk.plan.assemble import assemble

    from hyperdesk.plan.paths import check_output
    from hyperdesk.plan.verify import load_plan

    fmt = load_plan(Path(args.plan_dir), verify_hash=False).encoder.format
    out = check_output(args.output, fmt, overwrite=args.overwrite)
    result = assemble(Path(args.plan_dir), load_chunk_results(args.chunks), out, overwrite=args.overwrite)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), sort_keys=True))
    else:
        print(f"assembled {result.frames} frames ({result.duration_s:.3f} s) -> {result.output_path}")
        print(f"sha256 {result.sha256}")
    return 0


# ---------------------------------------------------------------- setup


def cmd_setup(args: argparse.Namespace) -> int:
    """Fetch what renders need offline later: the default font face (composition contract 12.1)."""
    from hyperdesk.composition.fonts import ensure_default_font
    from hyperdesk.dirs import asset_cache_dir

    font = ensure_default_font(asset_cache_dir())
    print(f"default font ready: {font.package}@{font.version} in {font.root}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a composition to a video (plan, render chunks, assemble)")
    p.add_argument("composition", help="HTML file or project folder")
    p.add_argument("-o", "--output", required=True)
    _add_render_options(p)
    p.add_argument("--workers", type=int, default=None, metavar="N", help="same as --local N")
    p.add_argument("--json", action="store_true", help="print one JSON event per line instead of a progress bar")
    p.add_argument("--keep-chunks", action="store_true", help="keep chunk files after assembly")
    p.add_argument("--overwrite", action="store_true",
                   help="png-sequence: replace the frame files of an earlier render in a non-empty output folder")
    from hyperdesk.cli.farm_cmds import add_farm_render_arguments

    add_farm_render_arguments(p)
    p.set_defaults(handler=cmd_render)

    p = sub.add_parser("plan", help="plan a composition into a planDir, or verify one")
    p.add_argument("composition", nargs="?")
    p.add_argument("-o", "--output", help="planDir to create")
    p.add_argument("--verify", metavar="PLANDIR", help="verify a planDir's hash and metadata")
    # Chunk sizes no longer depend on worker slots (identical output on every farm); accepted and ignored.
    p.add_argument("--slots", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true")
    _add_render_options(p)
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
                   help="png-sequence: replace the frame files of an earlier render in a non-empty output folder")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_assemble)

    p = sub.add_parser("setup", help="fetch the default font into the asset cache (needs the npm client once)")
    p.set_defaults(handler=cmd_setup)
