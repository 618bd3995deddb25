"""The controller's dependency pins: every package of hyperdesk's dependency closure at the version
installed here, which a node's pip gets as constraints."""
from __future__ import annotations

import hashlib
import re
from importlib import metadata


def normalize_name(name: str) -> str:
    """A distribution name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_pins(dist: str = "hyperdesk") -> list[str]:
    """`name==version` for every installed package of dist's runtime dependency closure.

    Used as pip constraints, so listing a package a node does not need is harmless; leaving one
    out would let a node resolve a different version.
    """
    seen: dict[str, str] = {}

    def walk(name: str, extras: set[str]) -> None:
        for req in metadata.requires(name) or []:
            spec, _, marker = req.partition(";")
            m = re.match(r"\s*([A-Za-z0-9._-]+)\s*(\[[^\]]*\])?", spec)
            if not m:
                continue
            wanted = {e.strip() for e in (m.group(2) or "[]")[1:-1].split(",") if e.strip()}
            needs_extra = set(re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker))
            if needs_extra and not needs_extra & extras:
                continue
            try:
                version = metadata.version(m.group(1))
            except metadata.PackageNotFoundError:
                continue  # excluded by a marker here; the node resolves it unpinned if it needs it
            key = normalize_name(m.group(1))
            if key in seen:
                continue
            seen[key] = version
            walk(m.group(1), wanted)

    walk(dist, set())
    return [f"{k}=={v}" for k, v in sorted(seen.items())]


def constraints_digest(pins: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(pins)).encode()).hexdigest()
