"""The user asset cache: every fetched remote file by URL and by content, and the exact version each
npm range resolved to, shared by every plan (so a warm cache plans offline)."""
from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from .npm import atomic_write


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AssetCache:
    """``<cache>/urls/<sha256(url)>.json`` -> record; ``<cache>/objects/<sha256>`` -> bytes;
    ``<cache>/pins/<sha256(package@spec)>.json`` -> the exact version a range resolved to."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _url_path(self, url: str) -> Path:
        return self.root / "urls" / (_sha256(url.encode("utf-8")) + ".json")

    def _obj_path(self, sha: str) -> Path:
        return self.root / "objects" / sha[:2] / sha

    def get(self, url: str) -> tuple[bytes, dict] | None:
        try:
            meta = json.loads(self._url_path(url).read_text(encoding="utf-8"))
            if meta.get("url") != url:
                return None
            data = self._obj_path(meta["sha256"]).read_bytes()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if _sha256(data) != meta.get("sha256"):
            return None
        return data, meta

    def put(self, url: str, data: bytes, meta: dict) -> None:
        sha = _sha256(data)
        # A read-only cache only costs a refetch next time.
        with contextlib.suppress(OSError):
            obj = self._obj_path(sha)
            if not obj.is_file():
                atomic_write(obj, data)
            rec = dict(meta, url=url, sha256=sha, size=len(data))
            atomic_write(self._url_path(url),
                         (json.dumps(rec, sort_keys=True, indent=2) + "\n").encode("utf-8"))

    def get_pin(self, package: str, spec: str) -> str | None:
        try:
            data = json.loads((self.root / "pins" / (_sha256(f"{package}@{spec}".encode()) + ".json"))
                              .read_text(encoding="utf-8"))
            return str(data["version"]) if data.get("package") == package else None
        except (OSError, ValueError, KeyError):
            return None

    def put_pin(self, package: str, spec: str, version: str) -> None:
        with contextlib.suppress(OSError):  # as for put(): a pin is only a shortcut
            atomic_write(self.root / "pins" / (_sha256(f"{package}@{spec}".encode()) + ".json"),
                         json.dumps({"package": package, "spec": spec, "version": version},
                                    sort_keys=True).encode("utf-8") + b"\n")

