"""Files served out of npm package tarballs (composition contract 12.2, tier 3): a CDN URL that
names a package (:mod:`.cdn`) from that package, a Google Fonts stylesheet from the
``@fontsource/<family>`` packages. Tarballs come through the user's npm client (:mod:`.npm`) into
the asset cache; the ``--asset-dir`` tier uses the same code for the tarballs it finds.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .asset_cache import AssetCache
from .boundary import is_inside, real_path
from .cdn import NpmTarget, fontsource_package, google_fonts_families
from .fonts import FONTSOURCE_PINS
from .fontsource import fontsource_css
from .npm import NpmError, PackageStore, find_tarball, integrity_matches, is_exact_version, read_package_json
from .remote_file import Fetched, Tier, content_type_for, file_name_for, safe_file_name


def contains(base: Path, p: Path) -> bool:
    """Is ``p`` inside ``base`` once every link is resolved (a tarball or --asset-dir entry may
    not point out of its directory)?"""
    return is_inside(real_path(p), real_path(base))


def package_tier(package: str) -> Tier:
    """The tier a package's files are recorded under."""
    return "fontsource" if package.startswith("@fontsource/") else "npm"


class PackageFiles:
    """Package tarballs in the asset cache (``store``) and the files a URL names in them."""

    def __init__(self, store: PackageStore, cache: AssetCache) -> None:
        self.store = store
        self.cache = cache  # remembers which exact version a range resolved to

    def tarball(self, package: str, spec: str) -> tuple[Path, str]:
        """The verified tarball of ``package@spec`` in the cache (packing it if needed)."""
        pin = FONTSOURCE_PINS.get(package)
        if pin is not None and spec in ("latest", pin[0]):
            version, integrity = pin
            return self.store.fetch(package, version, integrity), version
        version = spec if is_exact_version(spec) else self.cache.get_pin(package, spec) or ""
        if version:
            cached = self.store.cached_tarball(package, version)
            if cached is not None:
                return cached, version
        if not self.store.client.available:
            raise NpmError("skipped: no npm client found")
        pv = self.store.client.view(package, spec)
        if not is_exact_version(spec):
            self.cache.put_pin(package, spec, pv.version)
        return self.store.fetch(package, pv.version, pv.integrity, pv.shasum), pv.version

    def file_from_package(self, url: str, target: NpmTarget, tgz: Path, version: str,
                          tier: Tier) -> Fetched:
        """The file ``url`` names inside the tarball (its entry file for a bare package URL)."""
        root = self.store.unpacked(tgz)
        cands = list(target.candidates)
        if not cands:
            pkg = read_package_json(root)
            for f in target.entry_fields:
                v = pkg.get(f)
                if isinstance(v, str) and v:
                    cands.append(v.lstrip("./") if v.startswith("./") else v)
            cands.append("index.js")
        for c in cands:
            p = root / c
            if p.is_file() and contains(root, p):
                data = p.read_bytes()
                name = safe_file_name(p.name)
                return Fetched(url, data, content_type_for(name), tier, target.package, version,
                               name)
        raise NpmError(f"{' or '.join(cands[:4])} is not in {target.package}@{version}")

    def from_npm(self, url: str, target: NpmTarget, attempts: list[dict]) -> Fetched | None:
        tier = package_tier(target.package)
        try:
            tgz, version = self.tarball(target.package, target.spec)
            return self.file_from_package(url, target, tgz, version, tier)
        except NpmError as e:
            attempts.append({"tier": tier, "outcome": e.outcome, "transient": e.transient})
            return None

    # ----------------------------------------------------------------- Google Fonts -> fontsource

    def fontsource_from_tarballs(self, url: str, dirs: Iterable[Path]) -> Fetched | None:
        """A Google Fonts stylesheet from ``@fontsource`` tarballs found in ``dirs``."""
        fams = google_fonts_families(url)
        if not fams:
            return None
        dirs = list(dirs)
        parts, pkgs = [], []
        for fam in fams:
            pkg = fontsource_package(fam.name)
            found = find_tarball(dirs, pkg, "latest")
            if found is None:
                return None
            tgz, version = found
            pin = FONTSOURCE_PINS.get(pkg)
            if pin and pin[0] == version and not integrity_matches(tgz, pin[1]):
                return None
            try:
                root = self.store.unpacked(tgz)
            except NpmError:
                return None
            parts.append(fontsource_css(root, pkg, version, fam.variants))
            pkgs.append((pkg, version))
        return _fontsource_fetched(url, parts, pkgs, "asset-dir")

    def from_fontsource(self, url: str, attempts: list[dict]) -> Fetched | None:
        """A Google Fonts stylesheet from ``@fontsource`` packages through the npm client."""
        fams = google_fonts_families(url)
        if not fams:
            attempts.append({"tier": "fontsource", "outcome": "no family in the URL"})
            return None
        parts, pkgs = [], []
        for fam in fams:
            pkg = fontsource_package(fam.name)
            try:
                tgz, version = self.tarball(pkg, "latest")
                root = self.store.unpacked(tgz)
            except NpmError as e:
                attempts.append({"tier": "fontsource", "outcome": f"{pkg}: {e.outcome}",
                                 "transient": e.transient})
                return None
            css = fontsource_css(root, pkg, version, fam.variants)
            if not css.strip():
                attempts.append({"tier": "fontsource",
                                 "outcome": f"{pkg}@{version} has none of the requested faces"})
                return None
            parts.append(css)
            pkgs.append((pkg, version))
        return _fontsource_fetched(url, parts, pkgs, "fontsource")


def _fontsource_fetched(url: str, parts: list[str], pkgs: list[tuple[str, str]],
                        tier: Tier) -> Fetched:
    data = "\n".join(parts).encode("utf-8")
    package = pkgs[0][0] if len(pkgs) == 1 else ",".join(p for p, _ in pkgs)
    version = pkgs[0][1] if len(pkgs) == 1 else ",".join(v for _, v in pkgs)
    return Fetched(url, data, "text/css", tier, package, version,
                   file_name_for(url, "text/css", True))
