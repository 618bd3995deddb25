"""The first tier of the asset resolver: the user's ``--asset-dir`` directories (composition
contract 12.2). Each directory is searched for ``<dir>/manifest.json`` (URL -> file relative to
the dir), ``<dir>/<host>/<path>``, and an npm tarball ``<name>-<version>.tgz`` for a URL that
names a package; a Google Fonts stylesheet may come from ``@fontsource`` tarballs there.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .cdn import NpmTarget
from .fonts import FONTSOURCE_PINS
from .npm import NpmError, find_tarball, integrity_matches
from .packages import PackageFiles, contains
from .remote_file import Fetched, content_type_for, file_name_for


class AssetDirs:
    def __init__(self, dirs: list[Path], packages: PackageFiles) -> None:
        self.dirs = dirs
        self.packages = packages
        self._manifests: dict[Path, dict] = {}

    def _manifest(self, d: Path) -> dict:
        if d not in self._manifests:
            try:
                data = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
                if isinstance(data, dict) and isinstance(data.get("assets"), dict):
                    data = data["assets"]
                self._manifests[d] = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._manifests[d] = {}
        return self._manifests[d]

    def find(self, url: str, target: NpmTarget | None, google: bool,
             attempts: list[dict]) -> Fetched | None:
        """The file for ``url`` from the first directory that has it; a miss is added to
        ``attempts``."""
        parts = urlsplit(url) if not url.startswith("npm:") else None
        for d in self.dirs:
            # manifest.json: URL -> file
            man = self._manifest(d)
            entry = man.get(url)
            if entry is None and parts is not None and url.startswith("https:"):
                entry = man.get("//" + url[len("https://"):]) or man.get("http:" + url[6:])
            if isinstance(entry, dict):
                entry = entry.get("file") or entry.get("path")
            if isinstance(entry, str):
                p = d / entry
                if p.is_file() and contains(d, p):
                    data = p.read_bytes()
                    return Fetched(url, data, content_type_for(p.name), "asset-dir",
                                   name=file_name_for(url, content_type_for(p.name), google))
            # <dir>/<host>/<path>
            if parts is not None and not parts.query and parts.path not in ("", "/"):
                host = (parts.hostname or "").lower()
                rel = unquote(parts.path).lstrip("/")
                p = d / host / rel
                if host and p.is_file() and contains(d, p):
                    data = p.read_bytes()
                    return Fetched(url, data, content_type_for(p.name), "asset-dir",
                                   name=file_name_for(url, content_type_for(p.name)))
            # an npm tarball
            if target is not None:
                found = find_tarball([d], target.package, target.spec)
                if found is not None:
                    tgz, version = found
                    pin = FONTSOURCE_PINS.get(target.package)
                    if pin and pin[0] == version and not integrity_matches(tgz, pin[1]):
                        attempts.append({"tier": "asset-dir",
                                         "outcome": f"{tgz.name} failed the integrity check"})
                        continue
                    try:
                        return self.packages.file_from_package(url, target, tgz, version, "asset-dir")
                    except NpmError as e:
                        attempts.append({"tier": "asset-dir", "outcome": e.outcome})
                        continue
        if google:
            got = self.packages.fontsource_from_tarballs(url, self.dirs)
            if got is not None:
                return got
        attempts.append({"tier": "asset-dir", "outcome": "not found in "
                         + ", ".join(str(d) for d in self.dirs)})
        return None
