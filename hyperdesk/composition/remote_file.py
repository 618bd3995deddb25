"""A remote file as a resolver tier supplies it: its bytes, where they came from, its content type
and the file name it gets in the plan."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import unquote, urlsplit

# The resolver tier that originally supplied a file (meta/assets.json).
Tier = Literal["asset-dir", "direct", "npm", "fontsource"]
TIERS: tuple[Tier, ...] = get_args(Tier)


def as_tier(value: object) -> Tier:
    """A tier read back from the asset cache; an unknown one counts as a direct download."""
    return next((t for t in TIERS if t == value), "direct")


@dataclass
class Fetched:
    """Bytes a tier supplied for a URL, and where they came from."""

    url: str
    data: bytes
    content_type: str
    tier: Tier
    package: str | None = None
    version: str | None = None
    name: str | None = None  # file name hint (e.g. a package entry file)


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


def file_ext(name: str) -> str:
    m = re.search(r"\.([A-Za-z0-9]{1,8})$", name)
    return m.group(1).lower() if m else ""


def content_type_for(name: str, header: str | None = None) -> str:
    ext = file_ext(name)
    if ext in CONTENT_TYPES:
        return CONTENT_TYPES[ext]
    if header:
        return header.split(";")[0].strip().lower() or "application/octet-stream"
    return "application/octet-stream"


def safe_file_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "index"
    if len(name) > 100:
        ext = file_ext(name)
        name = name[: 90] + ("." + ext if ext else "")
    return name


def file_name_for(url: str, content_type: str, stylesheet: bool = False) -> str:
    """The ``<file name>`` part of ``__hd/remote/<sha256>/<file name>`` for a URL."""
    try:
        path = unquote(urlsplit(url).path) if not url.startswith("npm:") else url.split("/")[-1]
    except ValueError:
        path = ""
    base = path.rsplit("/", 1)[-1]
    name = safe_file_name(base) if base else "index"
    if stylesheet and file_ext(name) != "css":
        name += ".css"
    elif not file_ext(name) and content_type in _EXT_FOR_TYPE:
        name += "." + _EXT_FOR_TYPE[content_type]
    return name
