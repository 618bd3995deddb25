"""Which files are a composition's project: what its plan copies and its cache key hashes (issue 19).

* A folder given as the composition, or the folder of an HTML file that holds a project marker
  (`hyperframes.json`, `package.json`), is the project: every file in it is taken (plan contract
  1: dot-entries at every level, the top-level skip list and the excluded paths left out).
* An HTML file in an ordinary folder (a home directory, Downloads) takes only the files it
  references (composition/references.py) and those matching the request's `--include` globs.

Either way the files are counted while they are listed, by `stat` only, and more than the
request's caps is PROJECT_TOO_LARGE before any file is read or copied. Dot-entries are never taken.
"""
from __future__ import annotations

import itertools
import os
import stat
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from hyperdesk.composition.boundary import ProjectBoundary, link_state, real_path
from hyperdesk.composition.references import static_references
from hyperdesk.dirs import PROJECT_SKIP
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import PlanWarning

PROJECT_MARKERS = ("hyperframes.json", "package.json")


@dataclass(frozen=True)
class Project:
    root: Path    # the project folder, every link resolved
    entry: str    # the entry file, relative to root
    whole: bool   # the whole folder is the project; else only what the entry references


def find_project(composition: Path | str, entry: str | None = None) -> Project:
    """The project of a path naming an HTML file or a project folder; COMPOSITION_NOT_FOUND when
    neither exists."""
    path = Path(composition).expanduser()
    if path.is_dir():
        name = entry or "index.html"
        if not (path / name).is_file():
            raise HyperdeskError("COMPOSITION_NOT_FOUND", f"no {name} in {path}",
                                 details={"path": str(path / name)})
        return Project(path.resolve(), name, True)
    if not path.is_file():
        raise HyperdeskError("COMPOSITION_NOT_FOUND", f"composition not found: {path}", details={"path": str(path)})
    root = path.resolve().parent
    return Project(root, path.name, any((root / marker).is_file() for marker in PROJECT_MARKERS))


@dataclass(frozen=True)
class ProjectLimits:
    max_files: int | None = None
    max_bytes: int | None = None


@dataclass
class ProjectEntry:
    """One entry of the project walk (plan contract 1)."""

    rel: str      # posix, NFC, relative to the project
    path: Path    # where it is read from (through the project's own path, links unresolved)
    kind: str     # "dir" | "file" | "broken" (dangling link) | "outside" (link out of the project)
    real: Path    # every symbolic link resolved
    size: int = 0  # bytes, for a file


def walk_project(project_dir: Path, exclude: Sequence[Path], boundary: ProjectBoundary,
                 warnings: list[PlanWarning]) -> Iterator[ProjectEntry]:
    """The entries of a whole-folder project, in a stable order: dot-entries (at every level), the
    top-level skip list and the excluded paths are left out; symbolic links are followed only
    while their target stays inside the project or an allowed folder, and never round a cycle.
    A dangling link or a link out of the project is yielded as "broken" / "outside" and not
    followed: the copy refuses it, the plan cache key (plan/cache.py) records it."""
    excluded = {real_path(p) for p in exclude}

    def walk(src_dir: Path, rel_dir: str, stack: tuple[str, ...]) -> Iterator[ProjectEntry]:
        try:
            names = sorted(os.listdir(src_dir))
        except OSError as exc:
            warnings.append(PlanWarning(code="PROJECT_ENTRY_SKIPPED",
                                        message=f"{rel_dir or '.'}: cannot be listed ({exc.strerror})"))
            return
        seen: set[str] = set()
        for name in names:
            if name.startswith("."):
                continue
            if not rel_dir and name in PROJECT_SKIP:
                continue
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                warnings.append(PlanWarning(code="PROJECT_ENTRY_SKIPPED",
                                            message=f"{rel_dir}/{name!r}: the name is not valid UTF-8"))
                continue
            nfc = unicodedata.normalize("NFC", name)
            rel = f"{rel_dir}/{nfc}" if rel_dir else nfc
            if nfc in seen:
                warnings.append(PlanWarning(code="PROJECT_ENTRY_SKIPPED",
                                            message=f"{rel}: another entry has the same NFC name"))
                continue
            path = src_dir / name
            real = real_path(path)
            if real in excluded:
                continue
            if os.path.islink(path):
                state, real = link_state(path, boundary)
                if state != "ok":
                    seen.add(nfc)
                    yield ProjectEntry(rel, path, state, real)
                    continue
            try:
                st = os.stat(path)  # follows symlinks (checked above)
            except OSError as exc:
                warnings.append(PlanWarning(code="PROJECT_ENTRY_SKIPPED",
                                            message=f"{rel}: cannot be read ({exc.strerror})"))
                continue
            if stat.S_ISDIR(st.st_mode):
                if str(real) in stack:
                    warnings.append(PlanWarning(code="PROJECT_ENTRY_SKIPPED",
                                                message=f"{rel}: symbolic link loop"))
                    continue
                seen.add(nfc)
                yield ProjectEntry(rel, path, "dir", real)
                yield from walk(path, rel, stack + (str(real),))
            elif stat.S_ISREG(st.st_mode):
                seen.add(nfc)
                yield ProjectEntry(rel, path, "file", real, st.st_size)
            # FIFOs, sockets and devices are never part of a plan.

    yield from walk(Path(project_dir), "", (str(real_path(project_dir)),))


def check_include(patterns: Iterable[str]) -> None:
    """An --include glob is relative to the project folder and stays inside it."""
    for pattern in patterns:
        parts = PurePosixPath(pattern.replace("\\", "/")).parts
        if not pattern.strip() or pattern.startswith(("/", "\\", "~")) or ".." in parts:
            raise HyperdeskError("INVALID_RENDER_CONFIG",
                                 f"--include {pattern!r} must be a glob relative to the composition's folder, "
                                 "without ..", details={"field": "include", "value": pattern})


def _included(root: Path, patterns: Iterable[str]) -> Iterator[str]:
    for pattern in patterns:
        for match in root.glob(pattern.replace("\\", "/")):
            try:
                yield match.relative_to(root).as_posix()
            except ValueError:
                continue


def _listed_entries(root: Path, rels: Iterable[str], exclude: Sequence[Path],
                    boundary: ProjectBoundary) -> Iterator[ProjectEntry]:
    """The files among `rels` (project-relative paths), each once. A dot-entry, a name that is no
    regular file, and a path whose links dangle or lead out of the project are not taken: the
    compiler reports a reference to one of those."""
    excluded = {real_path(p) for p in exclude}
    seen: set[str] = set()
    for rel in rels:
        parts = rel.split("/")
        if any(not part or part.startswith(".") for part in parts):
            continue
        nfc = unicodedata.normalize("NFC", rel)
        if nfc in seen:
            continue
        seen.add(nfc)
        path = root.joinpath(*parts)
        real = real_path(path)
        if real in excluded or not boundary.admits(real):
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            yield ProjectEntry(nfc, path, "file", real, st.st_size)


def project_files(project: Project, exclude: Sequence[Path], boundary: ProjectBoundary,
                  warnings: list[PlanWarning], *, include: Sequence[str] = (),
                  variables: Mapping[str, Any] | None = None,
                  limits: ProjectLimits | None = None) -> list[ProjectEntry]:
    """What the project copy takes, in a stable order (see the module doc); PROJECT_TOO_LARGE as soon
    as the files counted pass a limit."""
    if project.whole:
        entries: Iterable[ProjectEntry] = walk_project(project.root, exclude, boundary, warnings)
    else:
        check_include(include)
        rels = static_references(project.root, project.entry, variables=variables)
        # lazily: a broad glob over a home directory meets the caps before it is listed whole
        entries = _listed_entries(project.root, itertools.chain(rels, _included(project.root, include)), exclude,
                                  boundary)
    limits = limits or ProjectLimits()
    taken: list[ProjectEntry] = []
    files = size = 0
    for entry in entries:
        if entry.kind == "file":
            files += 1
            size += entry.size
            if (limits.max_files is not None and files > limits.max_files) or (
                    limits.max_bytes is not None and size > limits.max_bytes):
                raise too_large(project, files, size, limits)
        taken.append(entry)
    if not project.whole:
        # the folders of the files, for the copy (a listed file's parents are plain folders of the project)
        dirs = sorted({"/".join(e.rel.split("/")[:i]) for e in taken for i in range(1, e.rel.count("/") + 1)})
        taken = [ProjectEntry(d, project.root / d, "dir", real_path(project.root / d)) for d in dirs] + taken
    return taken


def too_large(project: Project, files: int, size: int, limits: ProjectLimits) -> HyperdeskError:
    if project.whole:
        marker = next((m for m in PROJECT_MARKERS if (project.root / m).is_file()), None)
        what = f"the project folder {project.root}" + (f" (it holds {marker})" if marker else "")
    else:
        what = f"the files {project.entry} references in {project.root}"
    if limits.max_files is not None and files > limits.max_files:
        over = f"more than {limits.max_files} files"
    else:
        over = f"more than {_size(limits.max_bytes or 0)} ({limits.max_bytes} bytes)"
    hint = ("Move the composition into a folder of its own, render its HTML file from a folder without a "
            "project marker (then only the files it references are taken), or raise --max-project-files / "
            "--max-project-bytes." if project.whole else
            "Narrow the --include globs, or raise --max-project-files / --max-project-bytes.")
    return HyperdeskError(
        "PROJECT_TOO_LARGE",
        f"{what}: {over}, and a project's files are copied into the plan and sent to every render node",
        hint=hint,
        details={"project": str(project.root), "scope": "folder" if project.whole else "referenced",
                 "files_counted": files, "bytes_counted": size, "max_files": limits.max_files,
                 "max_bytes": limits.max_bytes})


def _size(n: int) -> str:
    """Bytes for people: 18232 -> "17.8 KiB"."""
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"
