"""The fonts hyperdesk supplies itself (composition contract 12.1): the default face, the alias
table for host UI faces, and the pinned ``@fontsource`` packages both come from.

:func:`ensure_default_font` puts the default face's package (``@fontsource/inter``, pinned) into
the asset cache; a set-up command calls it once so later plans work offline.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..capture.fontconfig import BROWSER_FACES
from ..errors import HyperdeskError
from .npm import NpmError, PackageStore, find_tarball, integrity_matches

DEFAULT_FAMILY = "Inter"
DEFAULT_PACKAGE = "@fontsource/inter"

GENERIC_FAMILIES: tuple[str, ...] = (
    "sans-serif", "serif", "monospace", "cursive", "fantasy", "system-ui", "ui-sans-serif",
    "ui-serif", "ui-monospace", "emoji", "math", "fangsong", "-apple-system", "BlinkMacSystemFont",
)
_GENERIC_CF = {g.casefold() for g in GENERIC_FAMILIES}

# Exact versions and registry integrity of every @fontsource package hyperdesk embeds by itself
# (the default face and the alias targets), so every machine embeds the same bytes.
FONTSOURCE_PINS: dict[str, tuple[str, str]] = {
    "@fontsource/inter":
        ("5.3.0", "sha512-RofMylZmjlJEfELXeNHFWBRcSs75rGU/6bV2S2jfnvv/3rPXPGe0LgUJTklcHZ9lM4OZmAVFhcJPnACfb91A3g=="),
    "@fontsource/roboto":
        ("5.3.0", "sha512-BapRJOWYP+LZ21zp+wBQjfpPYKRoxc4LspJ/RLuI+HSMBD5u/X4O+ESDrSvEqDSy0rAl7GwBJ+09mdc16cVQ1Q=="),
    "@fontsource/montserrat":
        ("5.3.0", "sha512-iQPDtZOnmM5ih4JBGaMSXisRap0ixb9bAUw2hDtY7EjVfaqiiNlKtVuJl9XclxUwtwMMHNcWXfQR6zI9x05+Tg=="),
    "@fontsource/league-gothic":
        ("5.3.0", "sha512-gqedetX+UlaiJgLiPnOzWGB1sY3OtNhS8YMjTy2D73AcsagIqpdIizssr1MStcUYf3D/zzanECuXawIgMGZxDg=="),
    "@fontsource/jetbrains-mono":
        ("5.3.0", "sha512-fqDfB5I9f1p1TV486aUgB9t8zP84P0O1FtQR5Ol9vjwPy+S+EIGlVYm1cvj2W5shcZMTg2nZFdVMoH5wFu8a1A=="),
    "@fontsource/eb-garamond":
        ("5.3.0", "sha512-VplwHpB8FLuzl+4G5LDci1b3Z4SghiuXH8XEgaxjnOb5aue5mEt1njmDKeO6iyLeGa73LffU7PC7hzncLRx0ZA=="),
    "@fontsource/noto-sans-jp":
        ("5.3.0", "sha512-OZbBzZ8LrFRs2RFT2Cc0HUV2C2ZeSfyEXhDJWR0EZuZaraJfRubpvrFmUnCljuBDEkw8Vn6CE/+nf9dj9b+0lg=="),
    "@fontsource/arimo":
        ("5.3.0", "sha512-nhxZ2sTVZYX8DJBgLuyX360B5vE4mxqpmjlKTRfucIqfcWRVx9vOYzWBc1IgEX0ist48VMC10PRKbFyH+4QFvQ=="),
    "@fontsource/tinos":
        ("5.3.0", "sha512-VVDyyZdbcsLKxo/W7rClAvacD/7DsGc7J5xzzp51Tndib8kDkEe/0bqbb3Xb3iH6+IUjt07aRsvtQ9MGeGGi4w=="),
    "@fontsource/cousine":
        ("5.3.0", "sha512-EhVes1KpHrmPwGVCoVxYpdiIi/L2LRGxbAuv07m3TdY76f9Vmwyhd/TNqi2RC0NOvMCNt2FtYPJcAfFfkK9DoQ=="),
    "@fontsource/dejavu-sans":
        ("5.3.0", "sha512-F/tV+7S31Mo8jtGUhj857XfUzcDCl9JJC8bzMtZ0wcTuOm89dG4FPjAOHOesMfmoChYVQ3eg5fHafdhxFrQIxQ=="),
}

# The faces Chromium draws where a page's CSS gives it no family (docs/fonts.md): embedded under
# their own names, bound in the per-render fontconfig file (capture.fontconfig.BROWSER_FACES).
BROWSER_FACE_FAMILIES: tuple[str, ...] = tuple(BROWSER_FACES)


def is_generic_family(name: str) -> bool:
    return name.casefold() in _GENERIC_CF


def _alias_table() -> dict[str, str]:
    groups = {
        "Inter": ["Helvetica", "Helvetica Neue", "Arial", "SF Pro", "SF Pro Display", "SF Pro Text",
                  "SF Pro Rounded", "Avenir", "Avenir Next", "Lucida Grande", "Geneva", "Optima",
                  "Verdana", "Tahoma", "Trebuchet MS", "Calibri", "Candara", "Corbel",
                  "Lucida Sans", "Lucida Sans Unicode", "Noto Sans", "DejaVu Sans",
                  "Liberation Sans"],
        "Roboto": ["Segoe UI"],
        "Montserrat": ["Futura", "DIN Alternate", "Arial Black"],
        "League Gothic": ["Bebas Neue"],
        "JetBrains Mono": ["Courier", "Courier New", "SF Mono", "Menlo", "Monaco", "Consolas",
                           "Lucida Console", "Lucida Sans Typewriter", "Andale Mono",
                           "DejaVu Sans Mono", "Liberation Mono"],
        "EB Garamond": ["Garamond", "Georgia", "Palatino", "Palatino Linotype", "Book Antiqua",
                        "Cambria", "Times", "Times New Roman", "DejaVu Serif", "Liberation Serif"],
        "Noto Sans JP": ["Noto Sans Japanese"],
    }
    return {name.casefold(): target for target, names in groups.items() for name in names}


# requested family (case-folded) -> the family embedded under the requested name
FONT_ALIASES: dict[str, str] = _alias_table()


@dataclass(frozen=True)
class DefaultFont:
    family: str
    package: str
    version: str
    root: Path  # the unpacked package


def ensure_default_font(cache_dir: Path, asset_dirs: Iterable[Path] = ()) -> DefaultFont:
    """Put the default face's package (pinned ``@fontsource/inter``) into the asset cache.

    Uses, in order: the verified tarball already in the cache, a tarball in an ``--asset-dir``
    (checked against the pinned integrity), ``npm pack`` through the user's npm client. Call it
    once at set-up (with network) so later plans are offline; :func:`embed_fonts` calls it too.
    """
    version, integrity = FONTSOURCE_PINS[DEFAULT_PACKAGE]
    store = PackageStore(Path(cache_dir))
    attempts: list[dict] = []
    tgz = store.cached_tarball(DEFAULT_PACKAGE, version)
    if tgz is not None and not integrity_matches(tgz, integrity):
        attempts.append({"tier": "cache", "outcome": "cached tarball failed the integrity check"})
        tgz = None
    if tgz is None:
        found = find_tarball(list(asset_dirs), DEFAULT_PACKAGE, version)
        if found is not None:
            if integrity_matches(found[0], integrity):
                tgz = store.adopt(found[0], DEFAULT_PACKAGE, version)
            else:
                attempts.append({"tier": "asset-dir",
                                 "outcome": f"{found[0].name} failed the integrity check"})
    transient = False
    if tgz is None:
        if not store.client.available:
            attempts.append({"tier": "npm", "outcome": "skipped: no npm client found"})
        else:
            try:
                tgz = store.fetch(DEFAULT_PACKAGE, version, integrity)
            except NpmError as e:
                attempts.append({"tier": "npm", "outcome": e.outcome})
                transient = e.transient
    if tgz is None:
        url = f"npm:{DEFAULT_PACKAGE}@{version}"
        hint = (f"Run hyperdesk's set-up once with network access, or put "
                f"fontsource-inter-{version}.tgz (from `npm pack {DEFAULT_PACKAGE}@{version}`) "
                f"in an --asset-dir. The asset cache is {cache_dir}.")
        if not store.client.available:
            hint += " No npm client was found: install Node.js (npm) to fetch it."
        raise HyperdeskError(
            "ASSET_FETCH_FAILED",
            f"the default font {DEFAULT_FAMILY} ({url}) is not in the asset cache and could not "
            f"be fetched; pass its tarball with --asset-dir",
            hint=hint, retryable=transient,
            details={"url": url, "referenced_by": "default font", "attempts": attempts},
        )
    try:
        root = store.unpacked(tgz)
    except NpmError as e:
        raise HyperdeskError("ASSET_FETCH_FAILED", f"cannot unpack the default font: {e.outcome}",
                             details={"url": f"npm:{DEFAULT_PACKAGE}@{version}",
                                      "referenced_by": "default font",
                                      "attempts": [{"tier": "cache", "outcome": e.outcome}]}) from None
    return DefaultFont(DEFAULT_FAMILY, DEFAULT_PACKAGE, version, root)
