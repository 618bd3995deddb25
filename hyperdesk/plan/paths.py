"""Output paths: refuse, before any work starts, a target that cannot be written or would destroy something."""
from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from hyperdesk.dirs import PROJECT_SKIP
from hyperdesk.errors import HyperdeskError
from hyperdesk.plan.sequence_record import check_replaceable, recorded_files

if TYPE_CHECKING:
    from hyperdesk.plan.verify import LoadedPlan


def check_writable_parent(target: Path, what: str = "the output") -> None:
    """The directory that will hold `target` exists and a file can really be created in it.

    Permission bits are not enough (root ignores them; read-only mounts and /proc do not), so a
    probe file is created and removed.
    """
    parent = Path(target).parent
    if not parent.is_dir():
        raise HyperdeskError("OUTPUT_NOT_WRITABLE", f"the directory for {what} does not exist: {parent}",
                             details={"path": str(target)})
    probe = parent / f".{Path(target).name}.probe.{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise HyperdeskError("OUTPUT_NOT_WRITABLE", f"cannot write {what} into {parent}: {exc.strerror or exc}",
                             details={"path": str(target)}) from None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


# What an output's name says it holds: a video of another format than the one rendered is refused.
VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".webm": "webm", ".mkv": "mkv", ".avi": "avi",
                  ".gif": "gif"}


def format_from_name(out: Path | str) -> str | None:
    """The format an output's extension names (mp4, mov, webm; others are not ours), None without one."""
    return VIDEO_SUFFIXES.get(Path(out).suffix.lower())


def check_extension(out: Path, fmt: str) -> None:
    """OUTPUT_FORMAT_MISMATCH for `x.webm` rendered as mp4 (a file whose name lies about its container),
    or a png-sequence folder named like a video."""
    named = format_from_name(out)
    if named is not None and named != fmt:
        raise HyperdeskError("OUTPUT_FORMAT_MISMATCH", f"the output {out.name} is named as {named}, but the format "
                             f"is {fmt}", details={"path": str(out), "format": fmt, "extension": out.suffix})


def check_output(out: Path | str, fmt: str, *, project: Path | str | None = None,
                 entry: str | None = None, overwrite: bool = False,
                 referenced: Iterable[Path | str] = ()) -> Path:
    """Refuse, before any work, an output that would destroy something: returns the absolute path.

    * a folder where a video file goes, or a file where a png-sequence folder goes;
    * a directory we cannot write into (OUTPUT_NOT_WRITABLE);
    * the composition's own files (OUTPUT_INSIDE_PROJECT): the entry and every file it `referenced`
      (real paths: through a symbolic link or `../` too), whatever it is; any other existing project
      file outside the folders hyperdesk never reads as source (output/, renders/, dist/,
      dot-folders) unless it is a video hyperdesk wrote; for a png-sequence the project folder, one
      that holds it, or a project folder holding anything but an earlier render's frames;
    * a non-empty png-sequence folder (OUTPUT_EXISTS), unless `overwrite`; then a file named like
      ours that an earlier render did not record (plan/sequence_record.py) is OUTPUT_EXISTS;
    * an existing file that is not a video hyperdesk wrote (OUTPUT_EXISTS), unless `overwrite`: a
      render replaces its own earlier output, never the user's file unasked.
    """
    out = Path(out).expanduser().absolute()
    sequence = fmt == "png-sequence"
    check_extension(out, fmt)
    if sequence and out.exists() and not out.is_dir():
        raise HyperdeskError("OUTPUT_NOT_WRITABLE", f"{out} exists and is not a folder: a png-sequence is written "
                             "into a folder", hint="Name a new or empty folder for the frames.",
                             details={"path": str(out), "format": fmt})
    if not sequence and out.is_dir():
        raise HyperdeskError("OUTPUT_NOT_WRITABLE", f"{out} is a folder: a {fmt} output is a file",
                             hint=f"Name a file, for example {out / ('video.' + fmt)}.",
                             details={"path": str(out), "format": fmt})
    check_writable_parent(out)
    if project is not None:
        _check_not_source(out, sequence, Path(project), entry, referenced)
    if not sequence and out.is_file() and not overwrite:
        # Lazy: a worker imports this module for every chunk attempt and never checks an output here.
        from hyperdesk.encode.assembly import output_plan_tag

        if output_plan_tag(out) is None:
            raise HyperdeskError("OUTPUT_EXISTS", f"{out} exists and is not a hyperdesk render",
                                 hint="Name another file, or pass --overwrite to replace this one.",
                                 details={"path": str(out), "format": fmt})
    if sequence and out.is_dir():
        if not overwrite:
            entries = sorted(p.name for p in out.iterdir())
            if entries:
                raise HyperdeskError("OUTPUT_EXISTS", f"the output folder {out} is not empty ({len(entries)} "
                                     f"entries, e.g. {entries[0]})",
                                     details={"path": str(out), "entries": entries[:10]})
        else:
            check_replaceable(out)
    return out


def check_planned_output(out: Path | str, loaded: LoadedPlan, *, overwrite: bool = False,
                         project: Path | str | None = None) -> Path:
    """check_output with what a plan knows: its format and every file its composition reads, in the
    `project` folder (default: the one the plan was made from)."""
    project = project if project is not None else loaded.manifest.project_dir
    return check_output(out, loaded.encoder.format, overwrite=overwrite, project=project,
                        referenced=loaded.sources.referenced if project is not None else ())


def _check_not_source(out: Path, sequence: bool, project: Path, entry: str | None,
                      referenced: Iterable[Path | str]) -> None:
    proj = project.resolve()
    real = out.resolve()

    def refuse(why: str) -> None:
        raise HyperdeskError("OUTPUT_INSIDE_PROJECT", f"the output {out} {why}",
                             details={"path": str(out), "project": str(proj)})

    if entry and real == (proj / entry).resolve():
        refuse("is the composition itself")
    for ref in referenced:
        source = (proj / ref).resolve()
        if real == source:
            shown = source.relative_to(proj).as_posix() if _inside(source, proj) else str(source)
            refuse(f"is a file the composition reads ({shown})")
        if sequence and _inside(source, real):
            refuse(f"holds a file the composition reads ({source})")
    if sequence and _inside(proj, real):
        refuse("is the project folder or holds it")
    if not _inside(real, proj) or not real.exists():
        return
    top = real.relative_to(proj).parts[0]
    if top in PROJECT_SKIP or top.startswith("."):
        return
    if real.is_file():
        # Lazy: a worker imports this module for every chunk attempt and never checks an output here.
        from hyperdesk.encode.assembly import output_plan_tag

        if output_plan_tag(real) is None:
            refuse(f"is a file of the project ({real.relative_to(proj).as_posix()}), not a hyperdesk render")
    elif real.is_dir() and recorded_files(real)[1]:
        refuse(f"is a folder of the project ({real.relative_to(proj).as_posix()})")
