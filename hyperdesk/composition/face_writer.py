"""Faces written into the plan: ``fonts/<family-slug>/<face>.ttf|otf``, one rule and one
manifest entry per face."""
from __future__ import annotations

import hashlib
import re
import shutil
import unicodedata
from pathlib import Path

from ..models import FontFace
from .font_face import FaceRule, render_face_rule


class FaceWriter:
    """Writes faces into ``fonts/<family-slug>/<face>.ttf|otf`` and collects manifest entries."""

    def __init__(self, fonts_dir: Path) -> None:
        self.fonts_dir = Path(fonts_dir)
        self.faces: dict[str, FontFace] = {}  # file -> face
        self.rules: dict[str, str] = {}  # file -> @font-face rule text
        self._keys: dict[tuple, str] = {}
        self._slugs: dict[str, str] = {}  # family casefold -> slug

    def _slug(self, family: str) -> str:
        cf = family.casefold()
        if cf not in self._slugs:
            base = family_slug(family)
            taken = set(self._slugs.values())
            slug, n = base, 2
            while slug in taken:
                slug, n = f"{base}-{n}", n + 1
            self._slugs[cf] = slug
        return self._slugs[cf]

    def families(self) -> set[str]:
        return {f.family.casefold() for f in self.faces.values()}

    def add(self, rule: FaceRule, sfnt: bytes, ext: str, source: str, *,
            family: str | None = None, label: str | None = None) -> FontFace:
        family = family or rule.family
        key = (family.casefold(), rule.weight_desc, rule.style, rule.unicode_range, source)
        if key in self._keys:
            return self.faces[self._keys[key]]
        sha = hashlib.sha256(sfnt).hexdigest()
        slug = self._slug(family)
        if label is None:
            label = f"{_subset_label(rule)}-{rule.weight_desc.replace(' ', '-')}-{rule.style}"
        name = f"{slug}/{label}.{ext}"
        if name in self.faces and self.faces[name].sha256 != sha:
            name = f"{slug}/{label}-{sha[:8]}.{ext}"
        path = self.fonts_dir / name
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(sfnt)
        face = FontFace(family=family, weight=rule.weight, style=rule.style,
                        unicode_range=rule.unicode_range, file=name, sha256=sha, source=source)
        self.faces[name] = face
        self._keys[key] = name
        self.rules[name] = render_face_rule(family, rule, name, ext)
        return face

    def rebase(self, fonts_dir: Path) -> None:
        fonts_dir = Path(fonts_dir)
        if fonts_dir.resolve() == self.fonts_dir.resolve():
            return
        for name in self.faces:
            dst = fonts_dir / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.fonts_dir / name, dst)
        self.fonts_dir = fonts_dir


def _subset_label(rule: FaceRule) -> str:
    if rule.label and len(rule.label) <= 40:
        lab = _safe_label(rule.label.strip("[]"))
        if lab:
            return lab
    if rule.unicode_range:
        return "u" + hashlib.sha256(rule.unicode_range.encode()).hexdigest()[:8]
    return "all"


def family_slug(family: str) -> str:
    folded = unicodedata.normalize("NFKD", family)
    ascii_ = "".join(c for c in folded if ord(c) < 128)
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    if not slug:
        slug = "f-" + hashlib.sha256(family.encode("utf-8")).hexdigest()[:10]
    return slug


def _safe_label(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]
