"""Which remote URLs name an npm package, and which Google Fonts families a stylesheet URL asks for.

Composition contract 12.2, tier 3: a CDN URL that names an npm package and version can be served
from the package's tarball, fetched through the user's own npm client. This module only *maps*
URLs; it never touches the network.

* jsDelivr ``/npm/<package>@<version>/<path>`` and unpkg ``/<package>@<version>/<path>``
  (scoped names allowed, a missing version means the ``latest`` tag, no path means the package's
  browser entry);
* cdnjs ``/ajax/libs/<library>/<version>/<file>`` for the libraries of :data:`CDNJS_LIBRARIES`
  (library -> npm package, with the file looked up at the package root and under the table's
  directories);
* Google Fonts ``/css`` and ``/css2`` stylesheet URLs -> the families, weights and styles they
  request, and the ``@fontsource/<family>`` package that can stand in for them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote, urlsplit

JSDELIVR_HOSTS = frozenset({"cdn.jsdelivr.net", "fastly.jsdelivr.net", "gcore.jsdelivr.net"})
UNPKG_HOSTS = frozenset({"unpkg.com", "www.unpkg.com"})
CDNJS_HOSTS = frozenset({"cdnjs.cloudflare.com"})
GOOGLE_FONTS_CSS_HOSTS = frozenset({"fonts.googleapis.com"})

# Where a package keeps its browser build, tried in order after the exact path fails.
_DEFAULT_DIRS = ("", "dist", "build", "lib")


def _three_version(v: str) -> str:
    """cdnjs names three.js releases ``r128``; npm publishes them as ``0.128.0``."""
    m = re.fullmatch(r"r(\d+)", v)
    return f"0.{m.group(1)}.0" if m else v


@dataclass(frozen=True)
class CdnjsLibrary:
    package: str
    dirs: tuple[str, ...] = _DEFAULT_DIRS
    version: Callable[[str], str] = field(default=lambda v: v)


# cdnjs library name -> npm package and the directories its files live in (first match wins).
# The directory order puts each package's UMD/browser build first, so a cdnjs file name that also
# exists as an ES module at the package root (gsap's ScrollTrigger.js) resolves to the browser build.
CDNJS_LIBRARIES: dict[str, CdnjsLibrary] = {
    "gsap": CdnjsLibrary("gsap", ("dist", "")),
    "animejs": CdnjsLibrary("animejs", ("lib", "dist", "dist/bundles", "", "build")),
    "lottie-web": CdnjsLibrary("lottie-web", ("build/player", "", "dist", "build", "lib")),
    "bodymovin": CdnjsLibrary("lottie-web", ("build/player", "", "dist", "build", "lib")),
    "three.js": CdnjsLibrary("three", ("build", "", "dist", "lib"), _three_version),
    "d3": CdnjsLibrary("d3", ("dist", "", "build", "lib")),
    "topojson-client": CdnjsLibrary("topojson-client", ("dist", "", "build", "lib")),
    "topojson": CdnjsLibrary("topojson", ("dist", "", "build", "lib")),
    "pixi.js": CdnjsLibrary("pixi.js", ("dist", "dist/browser", "", "lib")),
    "jquery": CdnjsLibrary("jquery", ("dist", "")),
    "lodash.js": CdnjsLibrary("lodash", ("", "dist")),
    "Chart.js": CdnjsLibrary("chart.js", ("dist", "")),
    "matter-js": CdnjsLibrary("matter-js", ("build", "")),
    "p5.js": CdnjsLibrary("p5", ("lib", "")),
    "howler": CdnjsLibrary("howler", ("dist", "")),
    "tween.js": CdnjsLibrary("@tweenjs/tween.js", ("dist", "")),
    "velocity": CdnjsLibrary("velocity-animate", ("", "dist")),
    "animate.css": CdnjsLibrary("animate.css", ("", "dist")),
    "KaTeX": CdnjsLibrary("katex", ("dist", "")),
    "font-awesome": CdnjsLibrary("@fortawesome/fontawesome-free", ("",)),
    "moment.js": CdnjsLibrary("moment", ("min", "", "dist")),
    "typed.js": CdnjsLibrary("typed.js", ("dist", "lib")),
    "paper.js": CdnjsLibrary("paper", ("dist", "")),
    "fabric.js": CdnjsLibrary("fabric", ("dist", "")),
    "konva": CdnjsLibrary("konva", ("", "lib")),
    "chroma-js": CdnjsLibrary("chroma-js", ("", "dist")),
    "leaflet": CdnjsLibrary("leaflet", ("dist",)),
    "zdog": CdnjsLibrary("zdog", ("dist", "js")),
    "normalize": CdnjsLibrary("normalize.css", ("",)),
}

# package.json fields naming the file a CDN serves for a bare package URL, per CDN.
_ENTRY_FIELDS = {
    "jsdelivr": ("jsdelivr", "browser", "main"),
    "unpkg": ("unpkg", "browser", "main"),
}

_PKG_NAME = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$", re.I)


@dataclass(frozen=True)
class NpmTarget:
    """A file inside an npm package, as named by a CDN URL."""

    package: str
    spec: str  # exact version, range or dist-tag, as written ("latest" when the URL had none)
    candidates: tuple[str, ...]  # paths inside the package, tried in order; empty -> entry file
    entry_fields: tuple[str, ...] = ()  # package.json fields naming the entry (when no candidates)
    source: str = "npm"  # "jsdelivr" | "unpkg" | "cdnjs" | "npm"


def normalize_url(url: str) -> str:
    """A protocol-relative URL (``//host/path``) becomes ``https://host/path``; others unchanged."""
    url = url.strip()
    if url.startswith("//"):
        return "https:" + url
    return url


def _split_package(path: str) -> tuple[str, str, str] | None:
    """``@s/n@1.2/dist/x.js`` -> (``@s/n``, ``1.2``, ``dist/x.js``); version "" when absent."""
    parts = path.split("/")
    if not parts or not parts[0]:
        return None
    if parts[0].startswith("@"):
        if len(parts) < 2:
            return None
        head, rest = parts[0] + "/" + parts[1], parts[2:]
    else:
        head, rest = parts[0], parts[1:]
    # The version follows the last "@" that is not the scope's leading one.
    at = head.rfind("@")
    if at > 0:
        name, version = head[:at], head[at + 1:]
    else:
        name, version = head, ""
    if not _PKG_NAME.match(name):
        return None
    return name, unquote(version), "/".join(rest)


def _file_candidates(path: str, source: str) -> tuple[str, ...]:
    out = [path]
    if source == "unpkg" and not re.search(r"\.[A-Za-z0-9]+$", path):
        out += [path + ".js", path + "/index.js"]
    if source == "jsdelivr" and path.endswith(".min.js"):
        # jsDelivr minifies on the fly when a package ships no .min.js: serve the source file.
        out.append(path[: -len(".min.js")] + ".js")
    if source == "jsdelivr" and path.endswith(".min.css"):
        out.append(path[: -len(".min.css")] + ".css")
    return tuple(out)


def npm_target_for_url(url: str) -> NpmTarget | None:
    """The npm file a CDN URL names, or None when the URL is not an npm-resolvable CDN URL.

    Also accepts hyperdesk's own ``npm:<package>@<version>/<path>`` form (used for files of
    ``@fontsource`` packages).
    """
    url = normalize_url(url)
    if url.startswith("npm:"):
        split = _split_package(url[4:])
        if split is None or not split[1] or not split[2]:
            return None
        name, version, path = split
        return NpmTarget(name, version, (path,), (), "npm")
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.query:
        return None
    host = (parts.hostname or "").lower()
    path = unquote(parts.path)
    if host in JSDELIVR_HOSTS:
        if not path.startswith("/npm/"):
            return None
        return _package_target(path[len("/npm/"):], "jsdelivr")
    if host in UNPKG_HOSTS:
        return _package_target(path.lstrip("/"), "unpkg")
    if host in CDNJS_HOSTS:
        m = re.match(r"^/ajax/libs/([^/]+)/([^/]+)/(.+)$", path)
        if not m:
            return None
        lib = CDNJS_LIBRARIES.get(m.group(1))
        if lib is None:
            return None
        file = m.group(3)
        if file.endswith("/") or ".." in file.split("/"):
            return None
        cands = tuple((d + "/" + file) if d else file for d in lib.dirs)
        return NpmTarget(lib.package, lib.version(m.group(2)), cands, (), "cdnjs")
    return None


def _package_target(rest: str, source: str) -> NpmTarget | None:
    split = _split_package(rest)
    if split is None:
        return None
    name, version, path = split
    if path.endswith("/") or path.startswith("+") or "/+" in path or ".." in path.split("/"):
        return None  # directory listings, +esm bundles: not a file of the package
    spec = version or "latest"
    if not path:
        return NpmTarget(name, spec, (), _ENTRY_FIELDS[source], source)
    return NpmTarget(name, spec, _file_candidates(path, source), (), source)


def tarball_file_name(package: str, version: str) -> str:
    """The name ``npm pack`` gives a tarball: ``@s/n`` 1.0.0 -> ``s-n-1.0.0.tgz``."""
    return f"{tarball_prefix(package)}-{version}.tgz"


def tarball_prefix(package: str) -> str:
    return package[1:].replace("/", "-") if package.startswith("@") else package


# ---------------------------------------------------------------------------------------------
# Google Fonts


@dataclass(frozen=True)
class GoogleFamily:
    """One ``family=`` of a Google Fonts stylesheet URL."""

    name: str
    # (style, min weight, max weight): a single weight has min == max; "100..900" is a range.
    variants: tuple[tuple[str, int, int], ...]


def is_google_fonts_css(url: str) -> bool:
    try:
        parts = urlsplit(normalize_url(url))
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and (parts.hostname or "").lower() in GOOGLE_FONTS_CSS_HOSTS
        and parts.path.rstrip("/") in ("/css", "/css2")
    )


_V1_WEIGHT_WORDS = {"thin": 100, "extralight": 200, "light": 300, "regular": 400, "r": 400,
                    "medium": 500, "semibold": 600, "bold": 700, "b": 700, "extrabold": 800,
                    "black": 900}


def _v1_variant(token: str) -> tuple[str, int, int] | None:
    t = token.strip().lower()
    if not t:
        return None
    style = "normal"
    if t in ("i", "italic"):
        return ("italic", 400, 400)
    if t == "bi":
        return ("italic", 700, 700)
    for suffix in ("italic", "i"):
        if t.endswith(suffix) and t != suffix:
            t, style = t[: -len(suffix)], "italic"
            break
    if t.isdigit():
        w = int(t)
    elif t in _V1_WEIGHT_WORDS:
        w = _V1_WEIGHT_WORDS[t]
    else:
        return None
    return (style, w, w)


def google_fonts_families(url: str) -> list[GoogleFamily]:
    """The families a Google Fonts ``css``/``css2`` URL requests (empty when none can be read)."""
    parts = urlsplit(normalize_url(url))
    v2 = parts.path.rstrip("/").endswith("/css2")
    out: list[GoogleFamily] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if key != "family":
            continue
        specs = [value] if v2 else value.split("|")
        for spec in specs:
            fam = _parse_family_v2(spec) if v2 else _parse_family_v1(spec)
            if fam is not None:
                out.append(fam)
    return out


def _parse_family_v1(spec: str) -> GoogleFamily | None:
    name, _, variants = spec.partition(":")
    name = " ".join(name.split())
    if not name:
        return None
    vs = [v for v in (_v1_variant(t) for t in variants.split(",")) if v is not None]
    return GoogleFamily(name, tuple(sorted(set(vs))) or (("normal", 400, 400),))


def _parse_family_v2(spec: str) -> GoogleFamily | None:
    name, _, axes = spec.partition(":")
    name = " ".join(name.split())
    if not name:
        return None
    if not axes or "@" not in axes:
        return GoogleFamily(name, (("normal", 400, 400),))
    tags, _, tuples = axes.partition("@")
    tag_list = [t.strip() for t in tags.split(",")]
    variants: set[tuple[str, int, int]] = set()
    for tup in tuples.split(";"):
        vals = [v.strip() for v in tup.split(",")]
        if len(vals) != len(tag_list):
            continue
        style, lo, hi = "normal", 400, 400
        ok = True
        for tag, val in zip(tag_list, vals, strict=True):
            if tag == "ital":
                style = "italic" if val in ("1", "1.0") else "normal"
            elif tag == "wght":
                m = re.fullmatch(r"(\d+(?:\.\d+)?)(?:\.\.(\d+(?:\.\d+)?))?", val)
                if not m:
                    ok = False
                    break
                lo = int(float(m.group(1)))
                hi = int(float(m.group(2))) if m.group(2) else lo
        if ok:
            variants.add((style, lo, hi))
    return GoogleFamily(name, tuple(sorted(variants)) or (("normal", 400, 400),))


def fontsource_package(family: str) -> str:
    """``Noto Sans JP`` -> ``@fontsource/noto-sans-jp``."""
    return "@fontsource/" + "-".join(family.lower().split())


def google_fonts_url(family: str, weights: list[int] | None = None,
                     italic: bool = False) -> str:
    """The css2 URL a page would use to request ``family`` in these weights (and italics)."""
    base = "https://fonts.googleapis.com/css2?family=" + "+".join(family.split())
    if not weights:
        return base
    ws = sorted(set(weights))
    if italic:
        tuples = [f"0,{w}" for w in ws] + [f"1,{w}" for w in ws]
        return base + ":ital,wght@" + ";".join(tuples)
    return base + ":wght@" + ";".join(str(w) for w in ws)
