"""Remote resources are frozen at compile time (composition contract 12.2).

One :class:`AssetResolver` per compile resolves every ``http(s):`` or protocol-relative URL once,
through these tiers, and writes the bytes to ``compiled/__hd/remote/<sha256>/<file name>`` (fonts
go to the plan's ``fonts/`` instead):

1. **local**: each ``--asset-dir`` (``<dir>/<host>/<path>``, ``<dir>/manifest.json`` mapping
   URL -> file relative to the dir, an npm tarball ``<name>-<version>.tgz`` for npm-resolvable
   URLs), then the user asset cache (``<cache>/urls/`` by URL, ``<cache>/objects/`` by sha256);
2. **direct**: HTTPS GET, 15 s timeout, at most 3 redirects, status 200 only, a fixed
   desktop-Chrome User-Agent, 256 MiB cap (an ``http:`` URL is fetched over https);
3. **npm**: jsDelivr / unpkg / cdnjs URLs from the package tarball through the user's npm client
   (:mod:`.npm`, :mod:`.cdn`); Google Fonts stylesheets from ``@fontsource/<family>`` packages.

Every resolution is recorded (:attr:`AssetResolver.assets`) with the tier that originally
supplied the bytes; the cache keeps that tier so re-planning from a warm cache writes the same
record. Test switch: ``HYPERDESK_TEST_LOOPBACK_ONLY=1`` (or ``loopback_only=True``) limits the
direct tier to loopback hosts and allows plain ``http:`` for them.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import socket
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import tinycss2

from ..errors import CODES, HyperdeskError
from ..models import FontFace, FrozenAsset
from .cdn import (
    NpmTarget,
    fontsource_package,
    google_fonts_families,
    is_google_fonts_css,
    normalize_url,
    npm_target_for_url,
    tarball_prefix,
)
from .fonts import (
    FONTSOURCE_PINS,
    CssPositions,
    FaceRule,
    FaceWriter,
    face_rule_from_block,
    face_wanted,
    fontsource_css,
    parse_font_face_rules,
    preprocess_css,
    to_sfnt,
    usable_srcs,
)
from .npm import (
    atomic_write,
    NpmClient,
    NpmError,
    PackageStore,
    find_tarball,
    integrity_matches,
    is_exact_version,
    read_package_json,
)

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
DIRECT_TIMEOUT_S = 15
MAX_REDIRECTS = 3
MAX_BYTES = 256 * 1024 * 1024

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}

# Content types by extension (fixed, so records never depend on the platform's mime database).
CONTENT_TYPES = {
    "js": "text/javascript", "mjs": "text/javascript", "cjs": "text/javascript",
    "css": "text/css", "json": "application/json", "map": "application/json",
    "html": "text/html", "htm": "text/html", "txt": "text/plain", "xml": "application/xml",
    "svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
    "gif": "image/gif", "webp": "image/webp", "avif": "image/avif", "ico": "image/x-icon",
    "bmp": "image/bmp", "mp4": "video/mp4", "m4v": "video/mp4", "webm": "video/webm",
    "mov": "video/quicktime", "ogv": "video/ogg", "mp3": "audio/mpeg", "m4a": "audio/mp4",
    "aac": "audio/aac", "wav": "audio/wav", "ogg": "audio/ogg", "oga": "audio/ogg",
    "opus": "audio/opus", "flac": "audio/flac", "vtt": "text/vtt", "wasm": "application/wasm",
    "woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
    "glb": "model/gltf-binary", "gltf": "model/gltf+json", "lottie": "application/zip",
}
_EXT_FOR_TYPE = {
    "text/css": "css", "text/javascript": "js", "application/javascript": "js",
    "application/json": "json", "image/svg+xml": "svg", "image/png": "png",
    "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp", "image/avif": "avif",
    "video/mp4": "mp4", "video/webm": "webm", "audio/mpeg": "mp3", "audio/wav": "wav",
    "audio/ogg": "ogg", "font/woff2": "woff2", "font/woff": "woff", "font/ttf": "ttf",
    "font/otf": "otf", "text/html": "html", "text/plain": "txt",
}


def default_asset_cache_dir() -> Path:
    """``<HYPERDESK_CACHE_DIR or the user cache dir>/assets``."""
    root = os.environ.get("HYPERDESK_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("hyperdesk")
    return Path(root) / "assets"


def _ext(name: str) -> str:
    m = re.search(r"\.([A-Za-z0-9]{1,8})$", name)
    return m.group(1).lower() if m else ""


def content_type_for(name: str, header: str | None = None) -> str:
    ext = _ext(name)
    if ext in CONTENT_TYPES:
        return CONTENT_TYPES[ext]
    if header:
        return header.split(";")[0].strip().lower() or "application/octet-stream"
    return "application/octet-stream"


def _safe_file_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "index"
    if len(name) > 100:
        ext = _ext(name)
        name = name[: 90] + ("." + ext if ext else "")
    return name


def file_name_for(url: str, content_type: str, stylesheet: bool = False) -> str:
    """The ``<file name>`` part of ``__hd/remote/<sha256>/<file name>`` for a URL."""
    try:
        path = unquote(urlsplit(url).path) if not url.startswith("npm:") else url.split("/")[-1]
    except ValueError:
        path = ""
    base = path.rsplit("/", 1)[-1]
    name = _safe_file_name(base) if base else "index"
    if stylesheet and _ext(name) != "css":
        name += ".css"
    elif not _ext(name) and content_type in _EXT_FOR_TYPE:
        name += "." + _EXT_FOR_TYPE[content_type]
    return name


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# the user asset cache


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
        try:
            obj = self._obj_path(sha)
            if not obj.is_file():
                atomic_write(obj, data)
            rec = dict(meta, url=url, sha256=sha, size=len(data))
            atomic_write(self._url_path(url),
                          (json.dumps(rec, sort_keys=True, indent=2) + "\n").encode("utf-8"))
        except OSError:
            pass  # a read-only cache only costs a refetch next time

    def get_pin(self, package: str, spec: str) -> str | None:
        try:
            data = json.loads((self.root / "pins" / (_sha256(f"{package}@{spec}".encode()) + ".json"))
                              .read_text(encoding="utf-8"))
            return str(data["version"]) if data.get("package") == package else None
        except (OSError, ValueError, KeyError):
            return None

    def put_pin(self, package: str, spec: str, version: str) -> None:
        try:
            atomic_write(self.root / "pins" / (_sha256(f"{package}@{spec}".encode()) + ".json"),
                          json.dumps({"package": package, "spec": spec, "version": version},
                                     sort_keys=True).encode("utf-8") + b"\n")
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# the direct tier


class _DirectFailure(Exception):
    def __init__(self, outcome: str, transient: bool) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.transient = transient


def _is_loopback(host: str) -> bool:
    host = (host or "").strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def __init__(self, allow_http_loopback: bool) -> None:
        super().__init__()
        self.allow_http_loopback = allow_http_loopback

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        parts = urlsplit(newurl)
        if parts.scheme != "https" and not (
            self.allow_http_loopback and parts.scheme == "http" and _is_loopback(parts.hostname or "")
        ):
            raise _DirectFailure(f"redirect to a non-https URL ({newurl[:200]})", False)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def direct_get(url: str, *, allow_http_loopback: bool = False) -> tuple[bytes, str, str]:
    """GET ``url``; returns (bytes, content type header, final URL). Raises _DirectFailure."""
    parts = urlsplit(url)
    loop = _is_loopback(parts.hostname or "")
    if parts.scheme == "http" and not (allow_http_loopback and loop):
        url = "https" + url[4:]
    handlers: list = [_Redirects(allow_http_loopback)]
    if loop:
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, headers={
        "User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity",
    })
    try:
        with opener.open(req, timeout=DIRECT_TIMEOUT_S) as resp:
            status = getattr(resp, "status", None) or resp.getcode()
            if status != 200:
                raise _DirectFailure(f"HTTP {status} (only 200 is accepted)", False)
            length = resp.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > MAX_BYTES:
                raise _DirectFailure("larger than the 256 MiB cap", False)
            chunks, total = [], 0
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_BYTES:
                    raise _DirectFailure("larger than the 256 MiB cap", False)
                chunks.append(chunk)
            return b"".join(chunks), resp.headers.get("Content-Type", ""), resp.geturl()
    except _DirectFailure:
        raise
    except urllib.error.HTTPError as e:
        if e.code in (301, 302, 303, 307, 308):
            raise _DirectFailure(f"more than {MAX_REDIRECTS} redirects", False) from None
        raise _DirectFailure(f"HTTP {e.code}", e.code >= 500) from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, _DirectFailure):
            raise reason from None
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise _DirectFailure("timeout", True) from None
        raise _DirectFailure(f"error: {reason}"[:200], False) from None
    except TimeoutError:
        raise _DirectFailure("timeout", True) from None
    except (OSError, ValueError) as e:
        raise _DirectFailure(f"error: {e}"[:200], False) from None


# ---------------------------------------------------------------------------------------------
# the resolver


@dataclass
class Fetched:
    """Bytes a tier supplied for a URL, and where they came from."""

    url: str
    data: bytes
    content_type: str
    tier: str  # "asset-dir" | "direct" | "npm" | "fontsource"
    package: str | None = None
    version: str | None = None
    name: str | None = None  # file name hint (e.g. a package entry file)


class _Failed(Exception):
    def __init__(self, attempts: list[dict]) -> None:
        super().__init__("no tier")
        self.attempts = attempts


_URL_TOKEN = re.compile(r"url\(\s*(?:[^)\\]|\\.)*\)", re.I | re.S)
_STRING_TOKEN = re.compile(r""""(?:[^"\\\n]|\\.|\\\n)*"?|'(?:[^'\\\n]|\\.|\\\n)*'?""", re.S)


class AssetResolver:
    """Freezes remote URLs into the plan (composition contract 12.2). See the module docstring."""

    def __init__(self, asset_dirs: list[Path], cache_dir: Path, plan_root: Path,
                 compiled_dir: Path, *, fonts_dir: Path | None = None,
                 loopback_only: bool | None = None, npm_exe: str | None = None) -> None:
        self.asset_dirs = [Path(d) for d in asset_dirs]
        self.cache_dir = Path(cache_dir).absolute()
        self.plan_root = Path(plan_root)
        self.compiled_dir = Path(compiled_dir)
        self.fonts_dir = Path(fonts_dir) if fonts_dir is not None else self.plan_root / "fonts"
        if loopback_only is None:
            loopback_only = os.environ.get("HYPERDESK_TEST_LOOPBACK_ONLY", "") not in ("", "0")
        self.loopback_only = loopback_only
        self.cache = AssetCache(self.cache_dir)
        client = NpmClient(exe=npm_exe, work_dir=self.cache_dir / "npm" / "tmp") \
            if npm_exe is not None else None
        self.store = PackageStore(self.cache_dir, client)
        self.face_writer = FaceWriter(self.fonts_dir)
        self._records: dict[str, FrozenAsset] = {}
        self._frozen: dict[tuple[str, bool], str] = {}
        self._google: list[str] = []
        self._active: set[str] = set()
        self._manifests: dict[Path, dict] = {}

    # ----------------------------------------------------------------------- public interface

    @property
    def assets(self) -> list[FrozenAsset]:
        """Every resolution so far, sorted by URL (``meta/assets.json``)."""
        return [self._records[u] for u in sorted(self._records)]

    @property
    def google_font_urls(self) -> list[str]:
        """Google Fonts stylesheets met in ``@import`` rules or passed to :meth:`freeze`."""
        return list(self._google)

    @property
    def font_faces(self) -> list[FontFace]:
        """Faces written so far (remote ``@font-face`` rules met by :meth:`rewrite_css`)."""
        return list(self.face_writer.faces.values())

    def freeze(self, url: str, referenced_by: str, kind: str) -> str:
        """Resolve one remote URL and return the site-absolute path the page should use.

        ``kind`` says what refers to it: ``"stylesheet"`` (processed recursively against its own
        URL; so is any ``text/css`` or ``.css`` resource), ``"font"`` (written as TrueType/OpenType
        into ``fonts/``, returns ``/__hd/fonts/...``), anything else (``"script"``, ``"image"``,
        ``"media"``, ...) is stored as fetched. A Google Fonts stylesheet URL is not stored: it is
        queued for :func:`embed_fonts` and ``/__hd/fonts/fonts.css`` is returned. A URL that is not
        ``http(s):`` or protocol-relative is returned unchanged.
        """
        norm = normalize_url(url)
        if urlsplit(norm).scheme not in ("http", "https"):
            return url
        if is_google_fonts_css(norm):
            if norm not in self._google:
                self._google.append(norm)
            return "/__hd/fonts/fonts.css"
        is_font = kind == "font"
        key = (norm, is_font)
        if key in self._frozen:
            return self._frozen[key]
        fetched = self.fetch(norm, referenced_by)
        if is_font:
            site = self._store_font_file(fetched, referenced_by)
        elif (kind == "stylesheet" or fetched.content_type == "text/css"
              or _ext(fetched.name or file_name_for(norm, "")) == "css"):
            site = self._store_stylesheet(fetched)
        else:
            site = self._store(fetched, fetched.data)
        self._frozen[key] = site
        return site

    def rewrite_css(self, css_text: str, base_url: str | None, referenced_by: str) -> str:
        """Freeze every ``url()`` and ``@import`` of a stylesheet and return the new text.

        With ``base_url`` None (a document's own CSS) only absolute and protocol-relative URLs are
        remote; relative ones are left for the compiler. Top-level ``@font-face`` rules with a
        remote source are removed: their faces go to ``fonts/`` and their rules to
        ``fonts/fonts.css``. ``@import`` of a Google Fonts stylesheet is removed likewise.
        """
        return self._rewrite_css(css_text, base_url, referenced_by)

    # ------------------------------------------------------------------------------ fetching

    def fetch(self, url: str, referenced_by: str) -> Fetched:
        """The bytes for ``url`` from the first tier that has them (cached for later plans)."""
        url = normalize_url(url)
        try:
            return self._fetch(url)
        except _Failed as f:
            raise self._error(url, referenced_by, f.attempts) from None

    def _fetch(self, url: str, google: bool = False) -> Fetched:
        attempts: list[dict] = []
        target = npm_target_for_url(url)
        google = google or is_google_fonts_css(url)
        # 1. --asset-dir directories
        if self.asset_dirs:
            got = self._from_asset_dirs(url, target, google, attempts)
            if got is not None:
                self._cache_put(got)
                return got
        else:
            attempts.append({"tier": "asset-dir", "outcome": "no --asset-dir given"})
        # 1b. the user asset cache
        hit = self.cache.get(url)
        if hit is not None:
            data, meta = hit
            return Fetched(url, data, meta.get("content_type") or "application/octet-stream",
                           meta.get("tier") or "direct", meta.get("package"),
                           meta.get("version"), meta.get("name"))
        attempts.append({"tier": "cache", "outcome": "miss"})
        # 2. direct download
        if not url.startswith("npm:"):
            host = urlsplit(url).hostname or ""
            if self.loopback_only and not _is_loopback(host):
                attempts.append({"tier": "direct",
                                 "outcome": "skipped: HYPERDESK_TEST_LOOPBACK_ONLY allows loopback hosts only"})
            else:
                try:
                    data, ctype, _final = direct_get(url, allow_http_loopback=self.loopback_only)
                    name = file_name_for(url, content_type_for("", ctype), google)
                    got = Fetched(url, data, content_type_for(name, ctype), "direct", name=name)
                    self._cache_put(got)
                    return got
                except _DirectFailure as e:
                    attempts.append({"tier": "direct", "outcome": e.outcome,
                                     "transient": e.transient})
        # 3. npm registry / fontsource
        if target is not None:
            got = self._from_npm(url, target, attempts)
        elif google:
            got = self._from_fontsource(url, attempts)
        else:
            got = None
            attempts.append({"tier": "npm", "outcome": "not an npm CDN URL"})
        if got is not None:
            self._cache_put(got)
            return got
        raise _Failed(attempts)

    def _cache_put(self, got: Fetched) -> None:
        self.cache.put(got.url, got.data, {
            "content_type": got.content_type, "tier": got.tier, "package": got.package,
            "version": got.version, "name": got.name,
        })

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

    @staticmethod
    def _inside(base: Path, p: Path) -> bool:
        try:
            p.resolve().relative_to(base.resolve())
            return True
        except (ValueError, OSError):
            return False

    def _from_asset_dirs(self, url: str, target: NpmTarget | None, google: bool,
                         attempts: list[dict]) -> Fetched | None:
        parts = urlsplit(url) if not url.startswith("npm:") else None
        for d in self.asset_dirs:
            # manifest.json: URL -> file
            man = self._manifest(d)
            entry = man.get(url)
            if entry is None and parts is not None and url.startswith("https:"):
                entry = man.get("//" + url[len("https://"):]) or man.get("http:" + url[6:])
            if isinstance(entry, dict):
                entry = entry.get("file") or entry.get("path")
            if isinstance(entry, str):
                p = d / entry
                if p.is_file() and self._inside(d, p):
                    data = p.read_bytes()
                    return Fetched(url, data, content_type_for(p.name), "asset-dir",
                                   name=file_name_for(url, content_type_for(p.name), google))
            # <dir>/<host>/<path>
            if parts is not None and not parts.query and parts.path not in ("", "/"):
                host = (parts.hostname or "").lower()
                rel = unquote(parts.path).lstrip("/")
                p = d / host / rel
                if host and p.is_file() and self._inside(d, p):
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
                        got = self._file_from_package(url, target, tgz, version, "asset-dir")
                    except NpmError as e:
                        attempts.append({"tier": "asset-dir", "outcome": e.outcome})
                        continue
                    return got
        if google:
            got = self._fontsource_from_asset_dirs(url)
            if got is not None:
                return got
        attempts.append({"tier": "asset-dir", "outcome": "not found in "
                         + ", ".join(str(d) for d in self.asset_dirs)})
        return None

    def _file_from_package(self, url: str, target: NpmTarget, tgz: Path, version: str,
                           tier: str) -> Fetched:
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
            if p.is_file() and self._inside(root, p):
                data = p.read_bytes()
                name = _safe_file_name(p.name)
                return Fetched(url, data, content_type_for(name), tier, target.package, version,
                               name)
        raise NpmError(f"{' or '.join(cands[:4])} is not in {target.package}@{version}")

    def _npm_tier(self, package: str) -> str:
        return "fontsource" if package.startswith("@fontsource/") else "npm"

    def _package_tarball(self, package: str, spec: str) -> tuple[Path, str]:
        """The verified tarball of ``package@spec`` in the cache (packing it if needed)."""
        pin = FONTSOURCE_PINS.get(package)
        if pin is not None and spec in ("latest", pin[0]):
            version, integrity = pin
            return self.store.fetch(package, version, integrity), version
        if is_exact_version(spec):
            version = spec
        else:
            version = self.cache.get_pin(package, spec) or ""
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

    def _from_npm(self, url: str, target: NpmTarget, attempts: list[dict]) -> Fetched | None:
        tier = self._npm_tier(target.package)
        try:
            tgz, version = self._package_tarball(target.package, target.spec)
            return self._file_from_package(url, target, tgz, version, tier)
        except NpmError as e:
            attempts.append({"tier": tier, "outcome": e.outcome, "transient": e.transient})
            return None

    # ----------------------------------------------------------------- Google Fonts -> fontsource

    def _fontsource_from_asset_dirs(self, url: str) -> Fetched | None:
        fams = google_fonts_families(url)
        if not fams:
            return None
        parts, pkgs = [], []
        for fam in fams:
            pkg = fontsource_package(fam.name)
            found = find_tarball(self.asset_dirs, pkg, "latest")
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
        return self._fontsource_fetched(url, parts, pkgs, "asset-dir")

    def _from_fontsource(self, url: str, attempts: list[dict]) -> Fetched | None:
        fams = google_fonts_families(url)
        if not fams:
            attempts.append({"tier": "fontsource", "outcome": "no family in the URL"})
            return None
        parts, pkgs = [], []
        for fam in fams:
            pkg = fontsource_package(fam.name)
            try:
                tgz, version = self._package_tarball(pkg, "latest")
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
        return self._fontsource_fetched(url, parts, pkgs, "fontsource")

    @staticmethod
    def _fontsource_fetched(url: str, parts: list[str], pkgs: list[tuple[str, str]],
                            tier: str) -> Fetched:
        data = "\n".join(parts).encode("utf-8")
        package = pkgs[0][0] if len(pkgs) == 1 else ",".join(p for p, _ in pkgs)
        version = pkgs[0][1] if len(pkgs) == 1 else ",".join(v for _, v in pkgs)
        return Fetched(url, data, "text/css", tier, package, version,
                       file_name_for(url, "text/css", True))

    # ------------------------------------------------------------------------------ storing

    def _rel(self, p: Path) -> str:
        return p.relative_to(self.plan_root).as_posix()

    def _record(self, fetched: Fetched, path: Path, data: bytes, content_type: str) -> None:
        if fetched.url in self._records:
            return
        self._records[fetched.url] = FrozenAsset(
            url=fetched.url, path=self._rel(path), sha256=_sha256(data), size=len(data),
            content_type=content_type, tier=fetched.tier,
            package=fetched.package if fetched.package else None,
            version=fetched.version if fetched.package else None,
        )

    def _store(self, fetched: Fetched, data: bytes, stylesheet: bool = False) -> str:
        sha = _sha256(data)
        name = fetched.name or file_name_for(fetched.url, fetched.content_type, stylesheet)
        if stylesheet and _ext(name) != "css":
            name += ".css"
        path = self.compiled_dir / "__hd" / "remote" / sha / name
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self._record(fetched, path, data, fetched.content_type)
        return "/" + path.relative_to(self.compiled_dir).as_posix()

    def _store_stylesheet(self, fetched: Fetched) -> str:
        text = _decode_css(fetched.data)
        self._active.add(fetched.url)
        try:
            new = self._rewrite_css(text, fetched.url, fetched.url)
        finally:
            self._active.discard(fetched.url)
        data = fetched.data if new == text else new.encode("utf-8")
        return self._store(replace(fetched, content_type="text/css"), data, stylesheet=True)

    def _store_font_file(self, fetched: Fetched, referenced_by: str) -> str:
        try:
            sfnt, ext = to_sfnt(fetched.data)
        except Exception:
            # Not a font fontTools can read: keep it as an ordinary remote file.
            return self._store(fetched, fetched.data)
        sha = _sha256(sfnt)
        stem = re.sub(r"\.[A-Za-z0-9]+$", "", fetched.name or file_name_for(fetched.url, ""))
        rel = f"_remote/{sha[:16]}-{_safe_file_name(stem)}.{ext}"
        path = self.fonts_dir / rel
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(sfnt)
        self._record(fetched, path, sfnt, "font/otf" if ext == "otf" else "font/ttf")
        return f"/__hd/fonts/{rel}"

    def store_text(self, fetched: Fetched, text: str) -> str:
        """Store a stylesheet made for ``fetched.url`` (e.g. the rules embedded for a Google
        Fonts URL) and record it."""
        return self._store(replace(fetched, content_type="text/css"), text.encode("utf-8"),
                           stylesheet=True)

    # ------------------------------------------------------------------------------ fonts

    def _face_bytes(self, rule: FaceRule, base: str | None, referenced_by: str,
                    root: Path | None = None) -> tuple[Fetched, bytes, str]:
        """Fetch and convert a rule's first usable source (trying the next ones on failure)."""
        first_error: HyperdeskError | None = None
        for src in usable_srcs(rule):
            absu = src if src.startswith("npm:") else _absolute(src, base)
            if absu is None:
                continue
            try:
                got = self.fetch(absu, referenced_by)
            except HyperdeskError as e:
                first_error = first_error or e
                continue
            try:
                sfnt, ext = to_sfnt(got.data)
            except Exception as e:  # fontTools raises many kinds
                first_error = first_error or self._error(
                    absu, referenced_by, [{"tier": got.tier, "outcome": f"not a font: {e}"[:200]}])
                continue
            return got, sfnt, ext
        if first_error is not None:
            raise first_error
        raise self._error(rule.srcs[0][0] if rule.srcs else "(no src)", referenced_by,
                          [{"tier": "asset-dir", "outcome": "no usable font source"}])

    def _add_faces(self, writer: FaceWriter, items: list[tuple[FaceRule, Fetched, bytes, str]],
                   source_for, family: str | None = None) -> list[FontFace]:
        out = []
        for rule, got, sfnt, ext in items:
            face = writer.add(rule, sfnt, ext, source_for(got), family=family)
            self._record(got, writer.fonts_dir / face.file, sfnt,
                         "font/otf" if ext == "otf" else "font/ttf")
            out.append(face)
        return out

    def embed_google_css(self, url: str, referenced_by: str, writer: FaceWriter,
                         codepoints: set[int]) -> list[FontFace]:
        """Resolve a Google Fonts stylesheet (directly, or from ``@fontsource`` packages) and
        write the faces the document needs. Raises ASSET_FETCH_FAILED."""
        fetched = self.fetch(url, referenced_by)
        rules = [r for r in parse_font_face_rules(_decode_css(fetched.data))
                 if face_wanted(r, codepoints)]
        items = [(r, *self._face_bytes(r, url, url)) for r in rules]
        if not items:
            raise self._error(url, referenced_by, [{"tier": fetched.tier,
                                                   "outcome": "the stylesheet has no usable face"}])

        def source(got: Fetched) -> str:
            if got.tier in ("fontsource", "npm") or (got.package and got.version):
                return f"fontsource:{got.package}@{got.version}"
            return f"url:{got.url}"

        faces = self._add_faces(writer, items, source)
        self.store_text(fetched, "\n".join(writer.rules[f.file] for f in faces))
        return faces

    def embed_fontsource(self, target_family: str, variants, writer: FaceWriter,
                         codepoints: set[int], *, family: str, source: str,
                         referenced_by: str) -> list[FontFace]:
        """Write ``target_family``'s ``@fontsource`` faces under the name ``family`` (aliases)."""
        pkg = fontsource_package(target_family)
        spec = FONTSOURCE_PINS.get(pkg, ("latest", ""))[0]
        attempts: list[dict] = []
        found = find_tarball(self.asset_dirs, pkg, spec) if self.asset_dirs else None
        root = version = None
        if found is not None:
            pin = FONTSOURCE_PINS.get(pkg)
            if not pin or integrity_matches(found[0], pin[1]):
                try:
                    root, version = self.store.unpacked(found[0]), found[1]
                except NpmError as e:
                    attempts.append({"tier": "asset-dir", "outcome": e.outcome})
        if root is None:
            try:
                tgz, version = self._package_tarball(pkg, spec)
                root = self.store.unpacked(tgz)
            except NpmError as e:
                attempts.append({"tier": "fontsource", "outcome": e.outcome,
                                 "transient": e.transient})
                raise self._error(f"npm:{pkg}@{spec}", referenced_by, attempts) from None
        css = fontsource_css(root, pkg, version, variants)
        rules = [r for r in parse_font_face_rules(css) if face_wanted(r, codepoints)]
        items = [(r, *self._face_bytes(r, None, referenced_by)) for r in rules]
        return self._add_faces(writer, items, lambda got: source, family=family)

    # ------------------------------------------------------------------------------ CSS

    def _rewrite_css(self, css_text: str, base_url: str | None, referenced_by: str) -> str:
        text = preprocess_css(css_text)
        pos = CssPositions(text)
        edits: list[tuple[int, int, str]] = []
        if "{" not in text:  # a declaration list (a style attribute)
            self._walk_tokens(tinycss2.parse_component_value_list(text), base_url, referenced_by,
                              pos, text, edits, False)
            nodes = []
        else:
            nodes = tinycss2.parse_stylesheet(text, skip_comments=False, skip_whitespace=False)
        label = None
        for i, node in enumerate(nodes):
            start = pos.offset(node)
            end = pos.offset(nodes[i + 1]) if i + 1 < len(nodes) else len(text)
            if node.type == "comment":
                label = node.value.strip()
                continue
            if node.type == "whitespace":
                continue
            this_label, label = label, None
            if node.type == "at-rule" and node.lower_at_keyword == "import":
                self._rewrite_import(node, start, end, base_url, referenced_by, pos, text, edits)
                continue
            if node.type == "at-rule" and node.lower_at_keyword == "font-face" and node.content:
                if self._move_font_face(node, this_label, base_url, referenced_by):
                    edits.append((start, end, ""))
                    continue
            if node.type == "at-rule":
                self._walk_tokens(node.prelude, base_url, referenced_by, pos, text, edits,
                                  node.lower_at_keyword == "font-face")
                if node.content:
                    self._walk_tokens(node.content, base_url, referenced_by, pos, text, edits,
                                      node.lower_at_keyword == "font-face")
            elif node.type == "qualified-rule":
                self._walk_tokens(node.prelude, base_url, referenced_by, pos, text, edits, False)
                self._walk_tokens(node.content, base_url, referenced_by, pos, text, edits, False)
        if not edits:
            return css_text
        out = text
        for s, e, rep in sorted(edits, reverse=True):
            out = out[:s] + rep + out[e:]
        return out

    def _rewrite_import(self, node, start: int, end: int, base_url: str | None,
                        referenced_by: str, pos: CssPositions, text: str, edits: list) -> None:
        tok, raw = _first_url(node.prelude)
        if tok is None:
            return
        absu = _absolute(raw, base_url)
        if absu is None:
            return
        if is_google_fonts_css(absu):
            if absu not in self._google:
                self._google.append(absu)
            edits.append((start, end, ""))
            return
        if absu in self._active:
            edits.append((start, end, ""))  # a cyclic @import: browsers ignore it too
            return
        site = self.freeze(absu, base_url or referenced_by, "stylesheet")
        _replace_token(tok, site, pos, text, edits)

    def _move_font_face(self, node, label: str | None, base_url: str | None,
                        referenced_by: str) -> bool:
        rule = face_rule_from_block(node.content, label)
        if rule is None:
            return False
        srcs = usable_srcs(rule)
        if not srcs or _absolute(srcs[0], base_url) is None:
            return False  # a local face: the compiler copies it
        got, sfnt, ext = self._face_bytes(rule, base_url, base_url or referenced_by)
        face = self.face_writer.add(rule, sfnt, ext, f"url:{got.url}",
                                    label=f"url-{_sha256(sfnt)[:12]}")
        self._record(got, self.face_writer.fonts_dir / face.file, sfnt,
                     "font/otf" if ext == "otf" else "font/ttf")
        return True

    def _walk_tokens(self, tokens, base_url: str | None, referenced_by: str,
                     pos: CssPositions, text: str, edits: list, font_ctx: bool) -> None:
        if not tokens:
            return
        next_font = False
        for tok in tokens:
            t = tok.type
            if t == "at-keyword":
                next_font = tok.lower_value == "font-face"
                continue
            if t == "url":
                self._freeze_token(tok, tok.value, base_url, referenced_by, pos, text, edits,
                                   font_ctx)
            elif t == "function":
                name = tok.lower_name
                if name == "url":
                    s = [a for a in tok.arguments if a.type not in ("whitespace", "comment")]
                    if s and s[0].type == "string":
                        self._freeze_token(s[0], s[0].value, base_url, referenced_by, pos, text,
                                           edits, font_ctx)
                elif name in ("image-set", "-webkit-image-set"):
                    for a in tok.arguments:
                        if a.type == "string":
                            self._freeze_token(a, a.value, base_url, referenced_by, pos, text,
                                               edits, font_ctx)
                    self._walk_tokens([a for a in tok.arguments if a.type != "string"], base_url,
                                      referenced_by, pos, text, edits, font_ctx)
                else:
                    self._walk_tokens(tok.arguments, base_url, referenced_by, pos, text, edits,
                                      font_ctx)
            elif t in ("{} block", "[] block", "() block"):
                self._walk_tokens(tok.content, base_url, referenced_by, pos, text, edits,
                                  font_ctx or (t == "{} block" and next_font))
                if t == "{} block":
                    next_font = False

    def _freeze_token(self, tok, raw: str, base_url: str | None, referenced_by: str,
                      pos: CssPositions, text: str, edits: list, font_ctx: bool) -> None:
        absu = _absolute(raw, base_url)
        if absu is None:
            return
        site = self.freeze(absu, base_url or referenced_by, "font" if font_ctx else "css")
        _replace_token(tok, site, pos, text, edits)

    # ------------------------------------------------------------------------------ errors

    def _error(self, url: str, referenced_by: str, attempts: list[dict]) -> HyperdeskError:
        network = [a for a in attempts
                   if a.get("tier") in ("direct", "npm", "fontsource")
                   and not str(a.get("outcome", "")).startswith(("skipped", "not an npm"))]
        retryable = bool(network) and all(a.get("transient") for a in network)
        target = npm_target_for_url(url)
        try:
            parts = urlsplit(url)
            where = f"<asset-dir>/{(parts.hostname or 'host').lower()}{parts.path or '/'}"
        except ValueError:
            where = "<asset-dir>/<host>/<path>"
        if url.startswith("npm:") and target is not None:
            where = f"<asset-dir>/{tarball_prefix(target.package)}-{target.spec}.tgz"
        hint = CODES["ASSET_FETCH_FAILED"][1] + f" The asset cache is {self.cache_dir}."
        npm_applicable = target is not None or is_google_fonts_css(url)
        if npm_applicable and not self.store.client.available:
            hint += (" No npm client was found, so the npm registry tier was skipped: install "
                     "Node.js (npm) or put the package tarball in an --asset-dir.")
        return HyperdeskError(
            "ASSET_FETCH_FAILED",
            f"cannot fetch {url} (referenced by {referenced_by}): no resolver tier supplied it; "
            f"put the file at {where} and pass --asset-dir",
            hint=hint,
            retryable=retryable,
            details={
                "url": url,
                "referenced_by": referenced_by,
                "attempts": [{"tier": a["tier"], "outcome": a["outcome"]} for a in attempts],
            },
        )


# ---------------------------------------------------------------------------------------------
# CSS helpers


def _decode_css(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _absolute(raw: str, base: str | None) -> str | None:
    """The absolute http(s) URL a CSS reference names, or None when it is not remote."""
    raw = raw.strip()
    if not raw or raw.startswith("#"):
        return None
    low = raw.lower()
    if low.startswith(("data:", "blob:", "about:", "javascript:")):
        return None
    if raw.startswith("//"):
        return "https:" + raw
    scheme = urlsplit(raw).scheme.lower() if ":" in raw else ""
    if scheme in ("http", "https"):
        return raw
    if scheme:
        return None
    if base and urlsplit(base).scheme in ("http", "https"):
        return urljoin(base, raw)
    return None


def _first_url(prelude) -> tuple[object | None, str]:
    for tok in prelude or []:
        if tok.type in ("whitespace", "comment"):
            continue
        if tok.type == "url":
            return tok, tok.value
        if tok.type == "string":
            return tok, tok.value
        if tok.type == "function" and tok.lower_name == "url":
            s = [a for a in tok.arguments if a.type not in ("whitespace", "comment")]
            if s and s[0].type == "string":
                return s[0], s[0].value
        return None, ""
    return None, ""


def _replace_token(tok, site: str, pos: CssPositions, text: str, edits: list) -> None:
    start = pos.offset(tok)
    if tok.type == "url":
        m = _URL_TOKEN.match(text, start)
        if m:
            edits.append((start, m.end(), f"url({site})"))
    elif tok.type == "string":
        m = _STRING_TOKEN.match(text, start)
        if m:
            q = text[start]
            edits.append((start, m.end(), f"{q}{site}{q}"))
