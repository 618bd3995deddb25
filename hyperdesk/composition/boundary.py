"""The project boundary: which local files a composition may read (issue 10).

A composition reads the files of its project only. A local reference (src/href/url()/@import, a
sub-composition file, a stylesheet, a script, a media or font file) or a symbolic link in the
project whose *real* path (every symlink resolved) is not inside the project's real path is
refused with ``OUTSIDE_PROJECT_REFERENCE``, unless it is inside one of the folders the user
admitted explicitly (``--allow-outside PATH``, ``RenderConfig.allow_outside``). A symbolic link
whose target does not exist is ``BROKEN_SYMLINK``.

Every place that reads a local file for the plan goes through one ``ProjectBoundary``; the plan
cache key (hyperdesk/plan/cache.py) uses ``link_state`` so it hashes exactly what the project copy
copies.
"""
from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Iterable

from hyperdesk.errors import HyperdeskError


def real_path(path: Path | str) -> Path:
    """The path with every symbolic link resolved (non-strict: a missing tail is kept)."""
    return Path(os.path.realpath(os.fspath(path)))


def is_inside(real: Path, root: Path) -> bool:
    return real == root or real.is_relative_to(root)


class ProjectBoundary:
    def __init__(self, project_dir: Path | str, allow_outside: Iterable[Path | str] = ()) -> None:
        self.project_dir = Path(project_dir)
        self.project_real = real_path(project_dir)
        self.allowed = [real_path(Path(p).expanduser()) for p in allow_outside or ()]
        # The real path of every local file the composition reads: the plan keeps them (meta/sources.json)
        # so that no output is ever written onto one (issue 19).
        self.read: set[Path] = set()

    def note(self, real: Path) -> None:
        """Record a file the composition reads (its real path)."""
        self.read.add(real)

    def admits(self, real: Path) -> bool:
        """A real path the composition may read: inside the project or an allowed folder."""
        return is_inside(real, self.project_real) or any(is_inside(real, a) for a in self.allowed)

    def check_reference(self, path: Path | str, *, reference: str, file: str) -> Path:
        """The real path of a referenced file; OUTSIDE_PROJECT_REFERENCE when it is not admitted.

        ``reference``: the URL or path as written (or as rebased to the project root);
        ``file``: the project file that contains it."""
        real = real_path(path)
        if not self.admits(real):
            raise HyperdeskError(
                "OUTSIDE_PROJECT_REFERENCE",
                f"{file}: the reference {reference} resolves to {real}, outside the project "
                f"directory {self.project_real}",
                details={"reference": reference, "file": file, "resolved": str(real)},
            )
        self.read.add(real)
        return real

    def broken_reference(self, path: Path | str, *, reference: str, file: str) -> HyperdeskError | None:
        """BROKEN_SYMLINK for a reference that names a dangling symbolic link (else None)."""
        p = Path(path)
        link = _dangling_link_in(p, self.project_dir)
        if link is None:
            return None
        target = _readlink(link)
        try:
            name = link.relative_to(os.path.normpath(self.project_dir)).as_posix()
        except ValueError:
            name = str(link)
        return HyperdeskError(
            "BROKEN_SYMLINK",
            f"{file}: the reference {reference} goes through the symbolic link {name}, which points "
            f"to {target}, which does not exist",
            details={"reference": reference, "file": file, "link": name, "target": target},
        )

    def check_link(self, path: Path, rel: str) -> Path:
        """A symbolic link met while copying the project (``rel``: its path in the project).
        Returns its target's real path; BROKEN_SYMLINK when it points to nothing,
        OUTSIDE_PROJECT_REFERENCE when it leads out of the project and every allowed folder."""
        state, real = link_state(path, self)
        target = _readlink(path)
        if state == "broken":
            raise HyperdeskError(
                "BROKEN_SYMLINK",
                f"{rel}: the symbolic link points to {target}, which does not exist",
                details={"link": rel, "target": target},
            )
        if state == "outside":
            raise HyperdeskError(
                "OUTSIDE_PROJECT_REFERENCE",
                f"{rel}: the symbolic link points to {target}"
                + (f" ({real})" if target != str(real) else "")
                + f", outside the project directory {self.project_real}",
                details={"reference": rel, "file": rel, "resolved": str(real), "link": rel,
                         "target": target},
            )
        return real


def link_state(path: Path, boundary: ProjectBoundary) -> tuple[str, Path]:
    """("ok" | "broken" | "outside", real path) of a symbolic link."""
    real = real_path(path)
    try:
        os.stat(path)  # follows the link (a loop of links is ELOOP: it points to nothing)
    except OSError:
        return "broken", real
    if not boundary.admits(real):
        return "outside", real
    return "ok", real


def _readlink(path: Path | str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _dangling_link_in(path: Path, stop: Path) -> Path | None:
    """The path itself, or its nearest ancestor below ``stop``, when it is a dangling symbolic
    link (else None)."""
    p = Path(os.path.normpath(path))
    stop = Path(os.path.normpath(stop))
    while True:
        if os.path.islink(p):
            try:
                os.stat(p)
            except OSError:
                return p
            return None
        parent = p.parent
        if parent in (p, stop) or not parent.is_relative_to(stop):
            return None
        p = parent
