"""Output paths: refuse, before any work starts, a target that cannot be written or would destroy something."""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from hyperdesk.dirs import PROJECT_SKIP
from hyperdesk.errors import HyperdeskError


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


# What a png-sequence output folder may hold of ours: the frames and the audio track (plan-contract 9.6).
_OWN_SEQUENCE_FILE = re.compile(r"^frame_\d{6}\.png$|^audio\.m4a$")


def is_own_sequence_file(name: str) -> bool:
    """A file hyperdesk writes into a png-sequence folder (and may replace with --overwrite)."""
    return bool(_OWN_SEQUENCE_FILE.match(name))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_output(out: Path | str, fmt: str, *, project: Path | str | None = None,
                 entry: str | None = None, overwrite: bool = False) -> Path:
    """Refuse, before any work, an output that would destroy something: returns the absolute path.

    * a folder where a video file goes, or a file where a png-sequence folder goes;
    * a directory we cannot write into (OUTPUT_NOT_WRITABLE);
    * the composition's own files: the entry, any existing project file outside the folders hyperdesk
      never reads as source (output/, renders/, dist/, dot-folders) unless it is a video hyperdesk
      wrote, and for a png-sequence the project folder or one that holds it (OUTPUT_INSIDE_PROJECT);
    * a non-empty png-sequence folder, unless `overwrite` (then only our own frame files are replaced)
      (OUTPUT_EXISTS).
    """
    out = Path(out).expanduser().absolute()
    sequence = fmt == "png-sequence"
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
        _check_not_source(out, sequence, Path(project), entry)
    if sequence and out.is_dir() and not overwrite:
        entries = sorted(p.name for p in out.iterdir())
        if entries:
            raise HyperdeskError("OUTPUT_EXISTS", f"the output folder {out} is not empty ({len(entries)} entries, "
                                 f"e.g. {entries[0]})", details={"path": str(out), "entries": entries[:10]})
    return out


def _check_not_source(out: Path, sequence: bool, project: Path, entry: str | None) -> None:
    proj = project.resolve()
    real = out.resolve()

    def refuse(why: str) -> None:
        raise HyperdeskError("OUTPUT_INSIDE_PROJECT", f"the output {out} {why}",
                             details={"path": str(out), "project": str(proj)})

    if entry and real == (proj / entry).resolve():
        refuse("is the composition itself")
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
    elif real.is_dir() and not all(is_own_sequence_file(p.name) for p in real.iterdir()):
        refuse(f"is a folder of the project ({real.relative_to(proj).as_posix()})")
