"""Remote resources are frozen at compile time (composition contract 12.2).

One :class:`AssetResolver` per compile resolves every ``http(s):`` or protocol-relative URL once,
through these tiers, and writes the bytes to ``compiled/__hd/remote/<sha256>/<file name>`` (fonts
go to the plan's ``fonts/`` instead):

1. **local**: each ``--asset-dir`` (:mod:`.asset_dirs`), then the user asset cache
   (:mod:`.asset_cache`, by URL);
2. **direct**: one HTTPS GET (:mod:`.download`);
3. **npm**: jsDelivr / unpkg / cdnjs URLs from the package tarball through the user's npm client,
   Google Fonts stylesheets from ``@fontsource/<family>`` packages (:mod:`.packages`).

Every resolution is recorded (:attr:`AssetResolver.assets`) with the tier that originally
supplied the bytes; the cache keeps that tier so re-planning from a warm cache writes the same
record. ``loopback_only=True`` (a test's ``FaultPlan.loopback_only``) limits the direct tier to
loopback hosts and allows plain ``http:`` for them.

A URL no tier supplies is ``ASSET_FETCH_FAILED``; with ``allow_missing=True``
(``--allow-missing-assets``) it is logged loudly, listed in :attr:`AssetResolver.missing`, and the
page gets a loopback path that answers 404, as a browser meets an unreachable host.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import CODES, HyperdeskError
from ..models import FontFace, FrozenAsset, PlanWarning
from .asset_cache import AssetCache
from .asset_dirs import AssetDirs
from .cdn import is_google_fonts_css, normalize_url, npm_target_for_url, tarball_prefix
from .css_urls import absolute_url, decode_css, rewrite_remote_urls
from .download import DirectFailure, direct_get, is_loopback
from .face_writer import FaceWriter
from .font_face import FaceRule, usable_srcs
from .npm import NpmClient, PackageStore
from .packages import PackageFiles
from .remote_file import Fetched, as_tier, content_type_for, file_ext, file_name_for, safe_file_name
from .sfnt import to_sfnt

log = logging.getLogger(__name__)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def font_content_type(ext: str) -> str:
    return "font/otf" if ext == "otf" else "font/ttf"


class _Failed(Exception):
    def __init__(self, attempts: list[dict]) -> None:
        super().__init__("no tier")
        self.attempts = attempts


class AssetResolver:
    """Freezes remote URLs into the plan (composition contract 12.2). See the module docstring."""

    def __init__(self, asset_dirs: list[Path], cache_dir: Path, plan_root: Path,
                 compiled_dir: Path, *, fonts_dir: Path | None = None,
                 loopback_only: bool = False, npm_exe: str | None = None,
                 allow_missing: bool = False) -> None:
        self.asset_dirs = [Path(d) for d in asset_dirs]
        self.cache_dir = Path(cache_dir).absolute()
        self.plan_root = Path(plan_root)
        self.compiled_dir = Path(compiled_dir)
        self.fonts_dir = Path(fonts_dir) if fonts_dir is not None else self.plan_root / "fonts"
        self.loopback_only = loopback_only
        self.cache = AssetCache(self.cache_dir)
        client = NpmClient(exe=npm_exe, work_dir=self.cache_dir / "npm" / "tmp") \
            if npm_exe is not None else None
        self.store = PackageStore(self.cache_dir, client)
        self.packages = PackageFiles(self.store, self.cache)
        self.local = AssetDirs(self.asset_dirs, self.packages)
        self.face_writer = FaceWriter(self.fonts_dir)
        self._records: dict[str, FrozenAsset] = {}
        self._frozen: dict[tuple[str, bool], str] = {}
        self._google: list[str] = []
        self._active: set[str] = set()
        self.allow_missing = allow_missing
        self._missing: dict[str, PlanWarning] = {}

    # ----------------------------------------------------------------------- public interface

    @property
    def assets(self) -> list[FrozenAsset]:
        """Every resolution so far, sorted by URL (``meta/assets.json``)."""
        return [self._records[u] for u in sorted(self._records)]

    @property
    def missing(self) -> list[PlanWarning]:
        """The assets left out under ``allow_missing`` (one ``ASSET_MISSING`` warning per URL)."""
        return [self._missing[u] for u in sorted(self._missing)]

    def tolerate(self, error: HyperdeskError) -> bool:
        """Under ``allow_missing``, list an ``ASSET_FETCH_FAILED`` as a missing asset (logged as a
        warning) and return True: the caller renders without it. Otherwise return False."""
        if not (self.allow_missing and error.code == "ASSET_FETCH_FAILED"):
            return False
        url = str(error.details.get("url") or "")
        if url not in self._missing:
            referenced_by = error.details.get("referenced_by") or "the composition"
            message = (f"asset {url} (referenced by {referenced_by}) could not be fetched; "
                       "rendering without it (--allow-missing-assets)")
            log.warning("MISSING ASSET: %s", message)
            self._missing[url] = PlanWarning(code="ASSET_MISSING", message=message, url=url)
        return True

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
        queued for font embedding and ``/__hd/fonts/fonts.css`` is returned. A URL that is not
        ``http(s):`` or protocol-relative is returned unchanged.
        """
        norm = normalize_url(url)
        if urlsplit(norm).scheme not in ("http", "https"):
            return url
        if is_google_fonts_css(norm):
            self.queue_google_css(norm)
            return "/__hd/fonts/fonts.css"
        is_font = kind == "font"
        key = (norm, is_font)
        if key in self._frozen:
            return self._frozen[key]
        try:
            fetched = self.fetch(norm, referenced_by)
        except HyperdeskError as e:
            if not self.tolerate(e):
                raise
            # A loopback path the plan does not hold: the page's request fails (404) and the render
            # goes on, as it does for a browser meeting an unreachable host.
            self._frozen[key] = f"/__hd/missing/{_sha256(norm.encode())[:16]}/{safe_file_name(file_name_for(norm, ''))}"
            return self._frozen[key]
        if is_font:
            site = self._store_font_file(fetched)
        elif (kind == "stylesheet" or fetched.content_type == "text/css"
              or file_ext(fetched.name or file_name_for(norm, "")) == "css"):
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
        return rewrite_remote_urls(css_text, base_url, referenced_by, self)

    # -------------------------------------------------------- what the CSS rewriter asks of it

    def queue_google_css(self, url: str) -> None:
        if url not in self._google:
            self._google.append(url)

    def being_rewritten(self, url: str) -> bool:
        return url in self._active

    def move_font_face(self, rule: FaceRule, base_url: str | None, referenced_by: str) -> None:
        try:
            got, sfnt, ext = self.face_bytes(rule, base_url, referenced_by)
        except HyperdeskError as e:
            if self.tolerate(e):
                return  # the face is left out: its text falls back as in a browser
            raise
        face = self.face_writer.add(rule, sfnt, ext, f"url:{got.url}",
                                    label=f"url-{_sha256(sfnt)[:12]}")
        self.record(got, self.face_writer.fonts_dir / face.file, sfnt, font_content_type(ext))

    # ------------------------------------------------------------------------------ fetching

    def fetch(self, url: str, referenced_by: str) -> Fetched:
        """The bytes for ``url`` from the first tier that has them (cached for later plans)."""
        url = normalize_url(url)
        try:
            return self._fetch(url)
        except _Failed as f:
            raise self.fetch_error(url, referenced_by, f.attempts) from None

    def _fetch(self, url: str) -> Fetched:
        attempts: list[dict] = []
        target = npm_target_for_url(url)
        google = is_google_fonts_css(url)
        # 1. --asset-dir directories
        if self.asset_dirs:
            got = self.local.find(url, target, google, attempts)
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
                           as_tier(meta.get("tier")), meta.get("package"), meta.get("version"),
                           meta.get("name"))
        attempts.append({"tier": "cache", "outcome": "miss"})
        # 2. direct download
        if not url.startswith("npm:"):
            host = urlsplit(url).hostname or ""
            if self.loopback_only and not is_loopback(host):
                attempts.append({"tier": "direct",
                                 "outcome": "skipped: the loopback-only test fault allows loopback hosts only"})
            else:
                try:
                    data, ctype, _final = direct_get(url, allow_http_loopback=self.loopback_only)
                    name = file_name_for(url, content_type_for("", ctype), google)
                    got = Fetched(url, data, content_type_for(name, ctype), "direct", name=name)
                    self._cache_put(got)
                    return got
                except DirectFailure as e:
                    attempts.append({"tier": "direct", "outcome": e.outcome,
                                     "transient": e.transient})
        # 3. npm registry / fontsource
        if target is not None:
            got = self.packages.from_npm(url, target, attempts)
        elif google:
            got = self.packages.from_fontsource(url, attempts)
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

    # ------------------------------------------------------------------------------ storing

    def record(self, fetched: Fetched, path: Path, data: bytes, content_type: str) -> None:
        """List a resolution in :attr:`assets` (the first one per URL counts)."""
        if fetched.url in self._records:
            return
        self._records[fetched.url] = FrozenAsset(
            url=fetched.url, path=path.relative_to(self.plan_root).as_posix(), sha256=_sha256(data),
            size=len(data), content_type=content_type, tier=fetched.tier,
            package=fetched.package if fetched.package else None,
            version=fetched.version if fetched.package else None,
        )

    def _store(self, fetched: Fetched, data: bytes, stylesheet: bool = False) -> str:
        sha = _sha256(data)
        name = fetched.name or file_name_for(fetched.url, fetched.content_type, stylesheet)
        if stylesheet and file_ext(name) != "css":
            name += ".css"
        path = self.compiled_dir / "__hd" / "remote" / sha / name
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.record(fetched, path, data, fetched.content_type)
        return "/" + path.relative_to(self.compiled_dir).as_posix()

    def _store_stylesheet(self, fetched: Fetched) -> str:
        text = decode_css(fetched.data)
        self._active.add(fetched.url)
        try:
            new = rewrite_remote_urls(text, fetched.url, fetched.url, self)
        finally:
            self._active.discard(fetched.url)
        data = fetched.data if new == text else new.encode("utf-8")
        return self._store(replace(fetched, content_type="text/css"), data, stylesheet=True)

    def _store_font_file(self, fetched: Fetched) -> str:
        try:
            sfnt, ext = to_sfnt(fetched.data, self.cache_dir)
        except Exception:
            # Not a font fontTools can read: keep it as an ordinary remote file.
            return self._store(fetched, fetched.data)
        sha = _sha256(sfnt)
        stem = re.sub(r"\.[A-Za-z0-9]+$", "", fetched.name or file_name_for(fetched.url, ""))
        rel = f"_remote/{sha[:16]}-{safe_file_name(stem)}.{ext}"
        path = self.fonts_dir / rel
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(sfnt)
        self.record(fetched, path, sfnt, font_content_type(ext))
        return f"/__hd/fonts/{rel}"

    def store_text(self, fetched: Fetched, text: str) -> str:
        """Store a stylesheet made for ``fetched.url`` (e.g. the rules embedded for a Google
        Fonts URL) and record it."""
        return self._store(replace(fetched, content_type="text/css"), text.encode("utf-8"),
                           stylesheet=True)

    def face_bytes(self, rule: FaceRule, base: str | None,
                   referenced_by: str) -> tuple[Fetched, bytes, str]:
        """Fetch and convert a rule's first usable source (trying the next ones on failure):
        (what was fetched, TrueType/OpenType bytes, "ttf" | "otf")."""
        first_error: HyperdeskError | None = None
        for src in usable_srcs(rule):
            absu = src if src.startswith("npm:") else absolute_url(src, base)
            if absu is None:
                continue
            try:
                got = self.fetch(absu, referenced_by)
            except HyperdeskError as e:
                first_error = first_error or e
                continue
            try:
                sfnt, ext = to_sfnt(got.data, self.cache_dir)
            except Exception as e:  # fontTools raises many kinds
                first_error = first_error or self.fetch_error(
                    absu, referenced_by, [{"tier": got.tier, "outcome": f"not a font: {e}"[:200]}])
                continue
            return got, sfnt, ext
        if first_error is not None:
            raise first_error
        raise self.fetch_error(rule.srcs[0][0] if rule.srcs else "(no src)", referenced_by,
                               [{"tier": "asset-dir", "outcome": "no usable font source"}])

    # ------------------------------------------------------------------------------ errors

    def fetch_error(self, url: str, referenced_by: str, attempts: list[dict]) -> HyperdeskError:
        """ASSET_FETCH_FAILED for ``url``, naming where to put the file and every tier tried."""
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
