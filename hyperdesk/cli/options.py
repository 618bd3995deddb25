"""The render options every request-making command shares (`render`, `plan`, `queue add`), and the
request they make."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperdesk.errors import HyperdeskError

if TYPE_CHECKING:
    from hyperdesk.plan.config import RenderConfig
    from hyperdesk.service import RenderRequest


def add_render_options(p: argparse.ArgumentParser) -> None:
    """What the plan freezes: the options of `render`, `plan` (and every command that makes a request)."""
    p.add_argument("--format", default=None,
                   help="output format: mp4, mov, webm or png-sequence (default: the output's extension, else mp4)")
    p.add_argument("--quality", default="standard", choices=["draft", "standard", "high"])
    p.add_argument("--fps", default=None, help="frame rate: an integer 1-240 or num/den (default: data-fps, else 30)")
    p.add_argument("--crf", type=int, default=None)
    p.add_argument("--bitrate", default=None)
    p.add_argument("--variables", default=None, help="JSON object of variable overrides")
    p.add_argument("--asset-dir", action="append", default=[], dest="asset_dirs", metavar="DIR",
                   help="directory of offline copies of remote assets (repeatable)")
    p.add_argument("--allow-missing-assets", action="store_true",
                   help="render without a remote asset that cannot be fetched (a warning each; the job is marked "
                        "as rendered with missing assets) instead of failing with ASSET_FETCH_FAILED")
    p.add_argument("--allow-outside", action="append", default=[], dest="allow_outside", metavar="PATH",
                   help="let the composition read files in this folder outside the project (repeatable)")
    p.add_argument("--chunk-size", type=int, default=None,
                   help="frames per chunk (rounded up to the keyframe interval)")
    p.add_argument("--keyframe-interval", type=int, default=None,
                   help="frames between keyframes (default 2 s; without --chunk-size, one more "
                        "where the last chunk is split between two)")
    p.add_argument("--no-audio", action="store_true", help="render without an audio stream")
    p.add_argument("--max-frames", type=int, default=None, metavar="N",
                   help="refuse a composition longer than N frames (default 864000: 4 h at 60 fps)")
    p.add_argument("--entry", default="index.html", help="entry file when COMPOSITION is a folder")
    p.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="an HTML file outside a project folder takes only the files it references: also take "
                        "these (a glob relative to its folder, for what its scripts fetch; repeatable)")
    p.add_argument("--max-project-files", type=int, default=None, metavar="N",
                   help="refuse a project of more than N files (default 20000)")
    p.add_argument("--max-project-bytes", type=int, default=None, metavar="BYTES",
                   help="refuse a project of more than BYTES (default 2 GiB)")


def add_farm_options(p: argparse.ArgumentParser) -> None:
    """Who renders: the farm options of `render`."""
    g = p.add_argument_group("render farm")
    g.add_argument("--workers", type=int, default=None, metavar="N", help="same as --local N")
    g.add_argument("--local", type=int, default=None, metavar="N",
                   help="local worker processes (default from cores and memory; 0 = only nodes)")
    g.add_argument("--node", action="append", default=[], dest="nodes", metavar="user@host[:port]",
                   help="render on this SSH node too (a registered node name or an address; repeatable)")
    g.add_argument("--dask", action="append", default=[], metavar="tcp://HOST:PORT",
                   help="render on the workers of this Dask cluster too (a saved cluster name or the scheduler's "
                        "address; workers offer slots as the resource render, e.g. --resources render=2; repeatable)")
    g.add_argument("--accept-host-key", action="append", default=[], dest="accept_host_keys",
                   metavar="SHA256:FINGERPRINT", help="confirm and pin a node's SSH host key (repeatable)")
    g.add_argument("--stall-timeout", type=float, default=None, metavar="SECONDS",
                   help="kill and requeue a chunk whose worker sends no event for this long (default 60)")
    g.add_argument("--keep-chunks", action="store_true", help="keep chunk files after assembly")


def parse_variables(text: str | None) -> dict[str, Any]:
    from hyperdesk.plan.config import check_variables  # lazy: see cli/__init__.py

    if not text:
        return {}
    try:
        variables = json.loads(text)
    except ValueError as exc:
        raise HyperdeskError("INVALID_RENDER_CONFIG", f"--variables is not valid JSON: {exc}",
                             details={"field": "variables", "value": text}) from None
    if not isinstance(variables, dict):
        raise HyperdeskError("INVALID_RENDER_CONFIG", "--variables must be a JSON object",
                             details={"field": "variables", "value": text})
    check_variables(variables)  # Python's JSON reads NaN and Infinity, which JSON does not have
    return variables


def config_from_args(args: argparse.Namespace, output: str | None = None) -> RenderConfig:
    """The render settings of the options; without --format, the `output`'s extension names it (mp4, mov,
    webm), else mp4."""
    from hyperdesk.plan.config import RenderConfig, check_format  # lazy: see cli/__init__.py
    from hyperdesk.plan.paths import format_from_name  # lazy: see cli/__init__.py

    fmt = args.format or (format_from_name(output) if output else None) or "mp4"
    check_format(fmt)
    comp = Path(args.composition)
    extra: dict[str, Any] = {name: getattr(args, name) for name in ("max_frames", "max_project_files",
                                                                    "max_project_bytes")
                             if getattr(args, name) is not None}
    return RenderConfig(
        entry=comp.name if comp.is_file() else args.entry, format=fmt, quality=args.quality,
        fps=args.fps, include=list(args.include),
        crf=args.crf, bitrate=args.bitrate, keyframe_interval=args.keyframe_interval, chunk_frames=args.chunk_size,
        include_audio=not args.no_audio, variables=parse_variables(args.variables),
        asset_dirs=[str(Path(d).absolute()) for d in args.asset_dirs],
        allow_outside=[str(Path(d).expanduser().absolute()) for d in args.allow_outside],
        allow_missing_assets=args.allow_missing_assets, **extra)


def request_from_args(args: argparse.Namespace) -> RenderRequest:
    from hyperdesk.service import FarmRequest, RenderRequest  # lazy: see cli/__init__.py

    local = args.local if args.local is not None else args.workers
    return RenderRequest(
        composition=str(Path(args.composition).expanduser().absolute()),
        output=str(Path(args.output).expanduser().absolute()), config=config_from_args(args, args.output),
        overwrite=args.overwrite,
        farm=FarmRequest(local=local, nodes=list(args.nodes), dask=list(args.dask),
                         accept_host_keys=list(args.accept_host_keys),
                         stall_timeout_s=args.stall_timeout, keep_chunks=args.keep_chunks))
