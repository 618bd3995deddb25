"""What a node gets from this controller: its own wheel, its dependency pins and its default font."""
from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hyperdesk import __version__
from hyperdesk.composition.cdn import tarball_file_name
from hyperdesk.composition.fonts import DEFAULT_PACKAGE, FONTSOURCE_PINS
from hyperdesk.composition.npm import integrity_matches
from hyperdesk.dirs import asset_cache_dir, cache_root
from hyperdesk.farm.provision import Say, provision_error
from hyperdesk.farm.provision.pins import constraints_digest, dependency_pins, normalize_name
from hyperdesk.farm.provision.wheel import (
    build_wheel_from_source,
    repack_installed,
    source_fingerprint,
    source_tree,
    wheel_content_digest,
    wheel_requirements,
    wheel_version,
)


@dataclass
class ControllerBuild:
    """What a node gets: this controller's wheel, its dependency pins and its default font."""

    wheel: Path
    wheel_digest: str
    version: str
    pins: list[str]
    source: str  # how the wheel was obtained: given, bundled, built, repacked
    font_file: Path | None = None
    font_integrity: str | None = None

    @property
    def pins_digest(self) -> str:
        return constraints_digest(self.pins)

    @property
    def direct_requirements(self) -> list[str]:
        return wheel_requirements(self.wheel)


def _bundle_dir() -> Path | None:
    """The app bundle's provision/ folder (its wheel and pins), when running from the PyInstaller app."""
    base = getattr(sys, "_MEIPASS", None)
    d = Path(base) / "provision" if base else None
    return d if d is not None and d.is_dir() else None


def _default_font() -> tuple[Path | None, str | None]:
    """The controller's verified default-font tarball, to give nodes that lack it."""
    version, integrity = FONTSOURCE_PINS[DEFAULT_PACKAGE]
    path = asset_cache_dir() / "npm" / tarball_file_name(DEFAULT_PACKAGE, version)
    if path.is_file() and integrity_matches(path, integrity):
        return path, integrity
    return None, integrity


def _prune(cache: Path, keep: Path, count: int = 3) -> None:
    """Keep the wheels of the last few source states only."""
    slots = sorted((d for d in cache.iterdir() if d.is_dir() and d != keep), key=lambda d: d.stat().st_mtime)
    for old in slots[:max(0, len(slots) - (count - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def controller_build(wheel: Path | None = None, *, cache_dir: Path | None = None,
                     say: Say | None = None) -> ControllerBuild:
    """This controller's wheel and pins: `wheel` (--wheel), else the app bundle's, else built from
    the source tree (cached per source state under cache_dir), else repacked from the installed
    distribution."""
    say = say or (lambda _m: None)
    cache = (cache_dir or cache_root()) / "provision" / "wheels"
    bundle = _bundle_dir()
    pins: list[str] | None = None
    if bundle is not None and (bundle / "constraints.txt").is_file():
        pins = [ln.strip() for ln in (bundle / "constraints.txt").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    if pins is None:
        pins = dependency_pins()
    source = "given"
    if wheel is None and bundle is not None:
        found = sorted(bundle.glob("hyperdesk-*.whl"))
        if found:
            wheel, source = found[-1], "bundled"
    if wheel is None:
        root = source_tree()
        if root is not None:  # imported from a checkout (plain or editable): build what runs here
            slot = cache / source_fingerprint(root)[:20]
            found = sorted(slot.glob("hyperdesk-*.whl"))
            if found:
                wheel, source = found[-1], "built (cached)"
            else:
                say(f"building the hyperdesk wheel from {root} …")
                wheel, source = build_wheel_from_source(root, slot), "built"
                _prune(cache, keep=slot)
        else:
            tmp = Path(tempfile.mkdtemp(prefix="hyperdesk-repack-"))
            wheel, source = repack_installed(tmp), "repacked"
    wheel = Path(wheel)
    if not wheel.is_file():
        raise provision_error(f"no wheel at {wheel}", "Pass --wheel with a hyperdesk wheel (pip wheel --no-deps .).")
    name, version = wheel_version(wheel)
    if normalize_name(name) != "hyperdesk" or version != __version__:
        raise provision_error(
            f"{wheel.name} is {name} {version}, this controller runs hyperdesk {__version__}",
            "A node must run the controller's own hyperdesk: pass the wheel of this version (or none).",
            wheel=str(wheel))
    font, integrity = _default_font()
    return ControllerBuild(wheel=wheel, wheel_digest=wheel_content_digest(wheel), version=version, pins=pins,
                           source=source, font_file=font, font_integrity=integrity)
