"""Output paths: refuse an unwritable target before any work starts (OUTPUT_NOT_WRITABLE)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

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
