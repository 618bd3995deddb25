"""compile_project(): read a HyperFrames project and write compiled/ (composition contract 13).

The steps run in the contract's order:

 1. wrap a fragment;                      6. media ids, starts, probed durations, sizes;
 2. inline sub-compositions (scoped       7. strip preload="none" and preview runtimes;
    CSS, scoped scripts);                 8. merge <head> styles, @import first;
 3. variable bindings;                    9. the text-rendering stylesheet first in <head>;
 4. freeze remote resources, copy        10. font lists normalised, fonts embedded, fonts.css
    outside-project files into __hd/;        linked.
 5. animated GIF/APNG/WebP images become looping video clips (animated.py).

The project itself is copied into compiled/ first (plan contract 1; composition/project.py says
which of its files), so every later step reads and writes the compiled tree only. Every local file
the composition reads is recorded (`CompiledComposition.sources`, the plan's meta/sources.json).
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import quote, unquote

from hyperdesk.composition import cssscope
from hyperdesk.composition.cdn import is_google_fonts_css
from hyperdesk.composition.cssscope import Scope, merge_styles, rewrite_css_urls, scope_css
from hyperdesk.composition.document import (
    DEFAULT_FPS,
    SCOPE_ATTR,
    body_of,
    check_shader_transitions,
    find_root,
    head_of,
    invalid,
    iter_elements,
    load_entry,
    new_element,
    parse_fps,
    read_root_attributes,
    read_source,
    serialize,
    short_element,
    source_file_of,
)
from hyperdesk.composition.animated import FROM_IMAGE_CSS, convert_animated_images
from hyperdesk.composition.boundary import ProjectBoundary, real_path
from hyperdesk.composition.font_embed import FontEmbedResult, embed_fonts
from hyperdesk.composition.font_scan import normalize_font_css
from hyperdesk.composition.media import (
    AudioTrack,
    CompiledVideo,
    apply_end_fallbacks,
    build_media_lists,
    media_elements,
    normalise_media,
)
from hyperdesk.composition.project import Project, ProjectEntry, ProjectLimits, project_files
from hyperdesk.composition.references import HREF_RESOURCE_TAGS
from hyperdesk.composition.resolver import AssetResolver
from hyperdesk.composition.script_faces import SCRIPT_FACES_SRC, named_families, script_texts, write_script_faces
from hyperdesk.composition.scripts import instance_script
from hyperdesk.composition.subcomp import (
    Inliner,
    is_relative_url,
    is_remote_url,
    parse_srcset,
    format_srcset,
    rebase_tree,
    remove_keep_tail,
    split_url,
    strip_preview_runtimes,
)
from hyperdesk.composition.timing import StartSyntaxError, StaticTiming, parse_start
from hyperdesk.composition.variables import (
    apply_bindings,
    instance_values,
    merge_declarations,
    parse_declarations,
    set_root_properties,
    top_level_values,
    variables_stylesheet,
)
from hyperdesk.encode.probe import probe_media
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import (
    FontManifest,
    FrozenAsset,
    Fps,
    MediaCounts,
    PlanWarning,
    ProjectSources,
    SubCompositionInfo,
    VariableDecl,
)

TEXT_RENDERING_CSS = "html,body,*{text-rendering:geometricPrecision}"
FONTS_CSS_HREF = "/__hd/fonts/fonts.css"
EXTERNAL_DIR = "__hd/external"


_DROP_REMOTE_LINK_RELS = frozenset({"preconnect", "dns-prefetch", "prefetch", "prerender", "icon",
                                    "apple-touch-icon", "manifest", "canonical", "alternate", "author",
                                    "license", "help", "search", "next", "prev", "mask-icon"})



@dataclass
class CompiledComposition:
    """What the compiler found and wrote: everything plan() puts into meta/."""

    composition_id: str
    entry: str
    width: int
    height: int
    fps_attr: Fps | None
    duration_s: float | None
    duration_source: str                       # "attribute" | "probe"
    root_timeline: bool
    sub_compositions: list[SubCompositionInfo] = field(default_factory=list)
    media: MediaCounts = field(default_factory=MediaCounts)
    variables: list[VariableDecl] = field(default_factory=list)
    fonts: list[str] = field(default_factory=list)
    videos: list[CompiledVideo] = field(default_factory=list)
    audio_tracks: list[AudioTrack] = field(default_factory=list)
    assets: list[FrozenAsset] = field(default_factory=list)
    font_manifest: FontManifest = field(default_factory=FontManifest)
    warnings: list[PlanWarning] = field(default_factory=list)
    # The render fps: the config's, else data-fps, else 30.
    fps: Fps = field(default_factory=lambda: DEFAULT_FPS)
    # Top-level variable values (defaults overlaid with the overrides).
    variable_values: dict[str, Any] = field(default_factory=dict)
    index_html: str = "index.html"
    # What the project copy took and the files the composition reads (meta/sources.json).
    sources: ProjectSources = field(default_factory=lambda: ProjectSources(scope="folder", files=0, bytes=0))


# ============================================================================ collaborators
# The resolver and the font functions are reached through these two functions so that the
# compiler tests can run offline with stand-ins (tests/composition/conftest.py returns None from
# both: remote URLs then stay as they are and no font is embedded).


def _make_resolver(asset_dirs: list[Path], cache_dir: Path, plan_root: Path, compiled_dir: Path,
                   fonts_dir: Path, *, loopback_only: bool = False,
                   allow_missing: bool = False) -> AssetResolver | None:
    """The remote-resource resolver (contract 12.2)."""
    return AssetResolver(asset_dirs, cache_dir, plan_root, compiled_dir, fonts_dir=fonts_dir,
                         loopback_only=loopback_only, allow_missing=allow_missing)


def _font_api() -> tuple[Callable[[str], str], Callable[..., FontEmbedResult]] | None:
    """(normalize_font_css, embed_fonts) for step 10."""
    return normalize_font_css, embed_fonts


# ============================================================================ project copy


def _unreadable(path: Path) -> bool:
    try:
        with open(path, "rb"):
            return False
    except OSError:
        return True


def copy_project(entries: Iterable[ProjectEntry], compiled_dir: Path, boundary: ProjectBoundary) -> set[str]:
    """Plan contract 1: copy the project's files (composition/project.py decides which) with
    symlinks dereferenced. A symbolic link that points to nothing is BROKEN_SYMLINK; one whose
    target's real path is outside the project (and outside every allowed folder) is
    OUTSIDE_PROJECT_REFERENCE: it is never followed. Returns the copied files (posix, NFC)."""
    copied: set[str] = set()
    compiled_dir.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        if entry.kind == "dir":
            (compiled_dir / entry.rel).mkdir(parents=True, exist_ok=True)
        elif entry.kind == "file":
            try:
                shutil.copyfile(entry.path, compiled_dir / entry.rel)
            except OSError as exc:
                if not _unreadable(entry.path):
                    raise  # the plan side failed (disk full, ...): not the user's file
                raise HyperdeskError(
                    "PROJECT_FILE_UNREADABLE",
                    f"{entry.rel}: cannot be read ({exc.strerror or exc}); every file the project copy "
                    "takes is copied into the plan",
                    details={"path": str(entry.path), "file": entry.rel}) from None
            copied.add(entry.rel)
        else:
            boundary.check_link(entry.path, entry.rel)  # raises
    return copied


# ============================================================================ the compiler


class _Compiler:
    def __init__(self, project_dir: Path, entry: str, compiled_dir: Path, fonts_dir: Path, *,
                 variables: dict, asset_dirs: list[Path], cache_dir: Path, fps: Fps | None,
                 exclude: Sequence[Path], prober: Callable[[Path], Any] | None,
                 allow_outside: Sequence[Path] = (), loopback_only: bool = False, whole: bool = True,
                 include: Sequence[str] = (), limits: ProjectLimits | None = None,
                 allow_missing: bool = False) -> None:
        self.project_dir = Path(project_dir).absolute()
        self.whole = whole
        self.include = tuple(include)
        self.limits = limits
        # Every local file the plan reads passes this check (issue 10).
        self.boundary = ProjectBoundary(self.project_dir, [Path(p) for p in (allow_outside or ())])
        self.entry = entry.replace("\\", "/").lstrip("/")
        self.compiled_dir = Path(compiled_dir).absolute()
        self.fonts_dir = Path(fonts_dir).absolute()
        self.overrides = dict(variables or {})
        self.asset_dirs = [Path(d) for d in (asset_dirs or [])]
        self.cache_dir = Path(cache_dir)
        self.loopback_only = loopback_only
        self.allow_missing = allow_missing
        self.config_fps = fps
        self.exclude = tuple(exclude) + (self.compiled_dir, self.fonts_dir)
        self.prober = prober
        self.warnings: list[PlanWarning] = []
        self.copied: set[str] = set()
        self.resolver: AssetResolver | None = None
        self.google_font_urls: list[str] = []
        self.local_css_files: list[str] = []
        self._css_seen: set[str] = set()
        self._external: dict[str, str] = {}
        self._external_bytes = 0  # what the copies under __hd/external took, counted with the project's files
        self._instance_files: dict[str, str] = {}
        self._element_files: dict[Any, str] = {}  # elements the compiler added, by source file

    # ------------------------------------------------------------------ driver

    def run(self) -> CompiledComposition:
        entry_path = self.project_dir / self.entry
        if not entry_path.is_file():
            raise HyperdeskError("COMPOSITION_NOT_FOUND", f"the entry file {entry_path} does not exist",
                                 details={"path": str(entry_path)})
        self.boundary.check_reference(entry_path, reference=self.entry, file=self.entry)
        try:
            text = read_source(entry_path)
        except (OSError, ValueError) as exc:
            raise HyperdeskError("COMPOSITION_NOT_FOUND",
                                 f"the entry file {entry_path} cannot be read as text ({exc})",
                                 details={"path": str(entry_path)}) from None
        render_fps = parse_fps(self.config_fps, source="config") if self.config_fps is not None else None

        taken = project_files(Project(self.project_dir, self.entry, self.whole), self.exclude, self.boundary,
                              self.warnings, include=self.include, variables=self.overrides, limits=self.limits)
        self.copied = copy_project(taken, self.compiled_dir, self.boundary)
        taken_files = [e for e in taken if e.kind == "file"]

        # Step 1: the document (a fragment is wrapped).
        doc, _fragment, doctype = load_entry(text)
        entry_dir = posixpath.dirname(self.entry)
        rebase_tree(doc, entry_dir)  # the compiled page lives at the project root
        root = find_root(doc)

        # Step 2: sub-compositions.
        known_scripts = {el.get("src").strip() for el in iter_elements(doc)
                         if el.tag == "script" and el.get("src")}
        self._check_start_syntax([body_of(doc)], self.entry, root)
        inliner = Inliner(self.project_dir, self.entry, self.warnings,
                          check_content=lambda nodes, file: self._check_start_syntax(nodes, file, None),
                          boundary=self.boundary)
        inlined = inliner.run(doc, known_scripts)
        self._instance_files = {str(inst.index): inst.file for inst in inlined.instances}
        if root is None:
            root = find_root(doc)
        if root is None:
            body = body_of(doc)
            raise invalid(self.entry, body, "data-composition-id", None,
                          "no composition root: no element has data-composition-id")
        facts = read_root_attributes(root, self.entry)

        # Step 3: variables (declarations, values, bindings, custom properties).
        top_decls = merge_declarations(
            parse_declarations(doc.get("data-composition-variables"), file=self.entry, el=doc),
            parse_declarations(root.get("data-composition-variables"), file=self.entry, el=root),
        )
        top_values = top_level_values(top_decls, self.overrides, self.warnings)
        values_for_host: dict[Any, dict[str, Any]] = {}
        inst_values: dict[int, dict[str, Any]] = {}
        root.set(SCOPE_ATTR, "root")
        for inst in inlined.instances:
            decls = merge_declarations(
                parse_declarations(inst.html_variables, file=inst.file, el=inst.box_as_authored),
                parse_declarations(inst.box.get("data-composition-variables"), file=inst.file,
                                   el=inst.box_as_authored),
            )
            host_file = inst.parent.file if inst.parent is not None else self.entry
            values = instance_values(decls, inst.host, host_file, report_el=inst.host_as_authored)
            values_for_host[inst.host] = values
            inst_values[inst.index] = values
        apply_bindings(doc, values_for_host, top_values, self.warnings, self.entry)
        set_root_properties(root, top_values)
        for inst in inlined.instances:
            set_root_properties(inst.box, inst_values[inst.index])

        # Step 2 output (after the values exist): scoped styles, hoisted links, scripts.
        head = head_of(doc)
        body = body_of(doc)
        for attrs in inlined.head_links:
            head.append(new_element("link", attrs))
        for inst in inlined.instances:
            scope = Scope(authored_id=inst.authored_id, runtime_id=inst.runtime_id,
                          inner_root_id=inst.inner_root_id)
            for style in inst.styles:
                css, imports = scope_css(style.css, scope)
                text = "\n".join(imports + ([css] if css else []))
                if text.strip():
                    head.append(new_element("style", {"data-hd-instance": str(inst.index)}, text))
        var_css = variables_stylesheet(
            [("root", top_values)] + [(str(i.index), inst_values[i.index]) for i in inlined.instances]
        )
        if var_css:
            head.append(new_element("style", {"data-hd-variables": ""}, var_css))
        for i, attrs in enumerate(inlined.external_scripts):
            script = new_element("script", attrs)
            body.append(script)
            if i < len(inlined.external_script_files):
                self._element_files[script] = inlined.external_script_files[i]
        scripted = [i for i in inlined.instances if i.inline_scripts]
        if scripted:
            for inst in scripted:
                body.append(new_element("script", {"data-hd-instance": str(inst.index)}, instance_script(
                    scope=str(inst.index), authored_id=inst.authored_id, runtime_id=inst.runtime_id,
                    source=inst.file, variables=inst_values[inst.index], scripts=inst.inline_scripts,
                )))

        check_shader_transitions(doc, self.entry)

        # Step 4: remote resources frozen; files outside the project refused, except those in an
        # allowed folder (--allow-outside), copied under __hd/external.
        strip_preview_runtimes(doc)  # never fetch a preview runtime only to delete it in step 7
        self.resolver = _make_resolver(self.asset_dirs, self.cache_dir, self.compiled_dir.parent,
                                       self.compiled_dir, self.fonts_dir, loopback_only=self.loopback_only,
                                       allow_missing=self.allow_missing)
        if self.resolver is None:
            self.warnings.append(PlanWarning(code="ASSET_RESOLVER_UNAVAILABLE",
                                             message="remote resources were not frozen (no asset resolver)"))
        self._freeze(doc)

        # Step 5: animated images become looping video clips with the same box.
        if convert_animated_images(doc, self.compiled_dir, facts.duration_s):
            head.append(new_element("style", {"data-hd-from-image": ""}, FROM_IMAGE_CSS))

        # Step 6: media.
        prober = self.prober or probe_media
        probes = normalise_media(doc, self.compiled_dir, prober, self.entry, self.warnings)
        timing_warnings: list[PlanWarning] = []
        timing = StaticTiming(root, warn=timing_warnings)
        if apply_end_fallbacks(probes, timing):
            timing_warnings = []
            timing = StaticTiming(root, warn=timing_warnings)
        self.warnings.extend(timing_warnings)
        videos, tracks = build_media_lists(doc, timing, probes, facts.duration_s)

        # Step 7: preload="none" and preview runtimes.
        for el in media_elements(doc):
            if (el.get("preload") or "").strip().lower() == "none":
                del el.attrib["preload"]
        strip_preview_runtimes(doc)

        # Step 8: one <style> in <head>, @import first.
        self._merge_head_styles(head)

        # Step 9: text-rendering first; a UTF-8 charset right after it.
        for meta in [el for el in head if isinstance(el.tag, str) and el.tag == "meta"
                     and (el.get("charset") is not None
                          or (el.get("http-equiv") or "").lower() == "content-type")]:
            remove_keep_tail(meta)
        head.insert(0, new_element("style", None, TEXT_RENDERING_CSS))
        head.insert(1, new_element("meta", {"charset": "utf-8"}))

        # Step 10: fonts.
        families, manifest = self._fonts(doc, head)

        html = serialize(doc, doctype)
        (self.compiled_dir / "index.html").write_text(html, encoding="utf-8")

        assets = sorted(self.resolver.assets, key=lambda a: a.url) if self.resolver is not None else []
        subs = []
        for inst in inlined.instances:
            start = timing.start(inst.host)
            dur = timing.duration(inst.host)
            subs.append(SubCompositionInfo(
                runtime_id=inst.runtime_id, authored_id=inst.authored_id, file=inst.file,
                start_s=start.value if start.certain else None,
                duration_s=dur.value if (dur.certain and dur.value is not None) else None,
            ))
        media_els = media_elements(doc)
        counts = MediaCounts(
            video_count=sum(1 for el in media_els if el.tag == "video"),
            audio_count=sum(1 for el in media_els if el.tag == "audio"),
            image_count=sum(1 for el in iter_elements(doc) if el.tag == "img"),
        )
        return CompiledComposition(
            composition_id=facts.composition_id,
            entry=self.entry,
            width=facts.width,
            height=facts.height,
            fps_attr=facts.fps_attr,
            duration_s=facts.duration_s,
            duration_source="attribute" if facts.duration_s is not None else "probe",
            root_timeline=not facts.no_timeline,
            sub_compositions=subs,
            media=counts,
            variables=top_decls,
            fonts=families,
            videos=videos,
            audio_tracks=tracks,
            assets=assets,
            font_manifest=manifest,
            warnings=_dedupe(self.warnings + (self.resolver.missing if self.resolver is not None else [])),
            fps=render_fps or facts.fps_attr or DEFAULT_FPS,
            variable_values=top_values,
            sources=ProjectSources(scope="folder" if self.whole else "referenced",
                                   files=len(taken_files) + len(self._external),
                                   bytes=sum(e.size for e in taken_files) + self._external_bytes,
                                   referenced=self._referenced()),
        )

    def _referenced(self) -> list[str]:
        """The files the composition read, relative to the project's real path (posix, sorted)."""
        root = real_path(self.project_dir)
        rels = set()
        for real in self.boundary.read:
            try:
                rels.add(Path(os.path.relpath(real, root)).as_posix())
            except ValueError:  # another drive: no relative path
                continue
        return sorted(rels, key=lambda r: r.encode("utf-8"))

    # ------------------------------------------------------------------ checks

    def _check_start_syntax(self, elements: list, file: str, root: Any) -> None:
        """Every data-start parses (4.1); the root's own value is ignored (contract 2)."""
        for top in elements:
            if top is None:
                continue
            for el in iter_elements(top):
                value = el.get("data-start")
                if value is None or el is root:
                    continue
                try:
                    parse_start(value)
                except StartSyntaxError as exc:
                    raise invalid(file, el, "data-start", value, str(exc)) from None

    # ------------------------------------------------------------------ step 4

    def _file_of(self, el: Any) -> str:
        """The project file an element of the compiled page came from."""
        if el in self._element_files:
            return self._element_files[el]
        inst = el.get("data-hd-instance")
        if inst is not None and inst in self._instance_files:
            return self._instance_files[inst]
        return source_file_of(el, self.entry)

    def _ref(self, el: Any, attr: str) -> str:
        return f"{self._file_of(el)}: {short_element(el)} {attr}"

    def _freeze_remote(self, url: str, referenced_by: str, kind: str) -> str | None:
        if self.resolver is None:
            return None
        u = url.strip()
        if u.startswith("//"):
            u = "https:" + u
        return self.resolver.freeze(u, referenced_by, kind)

    def _local(self, url: str, base_dir: str, referenced_by: str, file: str) -> str | None:
        """A relative reference (to base_dir inside the project) written in the project file
        `file`: None when the compiled copy has it; else, when its real path is inside the project
        (a file the copy skips) or inside an allowed folder, its file is copied under
        __hd/external/<sha256>/<name> and that path returned; anything else is
        OUTSIDE_PROJECT_REFERENCE."""
        path, suffix = split_url(url.strip())
        if not path:
            return None
        joined = posixpath.normpath(posixpath.join(base_dir, unquote(path)))
        nfc = unicodedata.normalize("NFC", joined)
        source = Path(os.path.normpath(os.path.join(self.project_dir, *joined.split("/"))))
        if nfc in self.copied:
            self.boundary.note(real_path(source))
            return None
        if not source.is_file():
            broken = self.boundary.broken_reference(source, reference=url.strip(), file=file)
            if broken is not None:
                raise broken
            if (self.compiled_dir / nfc).exists():
                return None
            self.warnings.append(PlanWarning(code="LOCAL_ASSET_MISSING",
                                             message=f"{referenced_by}: {url} does not exist",
                                             url=url))
            return None
        real = self.boundary.check_reference(source, reference=url.strip(), file=file)
        return self._externalize(source, real) + suffix

    def _externalize(self, source: Path, real: Path) -> str:
        key = str(real)
        if key in self._external:
            return self._external[key]
        data = real.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        name = unicodedata.normalize("NFC", source.name)
        target = self.compiled_dir / EXTERNAL_DIR / digest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self._external_bytes += len(data)
        site = "/" + EXTERNAL_DIR + "/" + digest + "/" + quote(name)
        self._external[key] = site
        return site

    def _url(self, url: str, el: Any, attr: str, kind: str, base_dir: str = "") -> str | None:
        if is_remote_url(url):
            return self._freeze_remote(url, self._ref(el, attr), kind)
        if is_relative_url(url):
            return self._local(url, base_dir, self._ref(el, attr), self._file_of(el))
        self._rooted(url)
        return None

    def _rooted(self, url: str) -> None:
        """A root-relative reference ("/media/a.mp4") is served from the compiled copy as it is: note
        the project file it names."""
        u = url.strip()
        if not u.startswith("/") or u.startswith("//"):
            return
        rel = unicodedata.normalize("NFC", posixpath.normpath(unquote(split_url(u)[0])).lstrip("/"))
        if rel in self.copied:
            self.boundary.note(real_path(self.project_dir.joinpath(*rel.split("/"))))

    def _freeze(self, doc: Any) -> None:
        for el in list(iter_elements(doc)):
            if el.getparent() is None and el is not doc:
                continue  # removed earlier in this walk
            tag = el.tag
            if tag == "link":
                self._freeze_link(el)
                continue
            if tag == "iframe":
                src = el.get("src")
                if src and is_remote_url(src):
                    raise invalid(source_file_of(el, self.entry), el, "src", src,
                                  "an iframe may not load a remote URL")
            kind = {"script": "script", "img": "image", "video": "video", "audio": "audio",
                    "source": "media", "track": "track", "image": "image", "embed": "other",
                    "object": "other", "input": "image", "iframe": "document"}.get(tag, "other")
            for attr in ("src", "poster", "data", "href", "xlink:href"):
                value = el.get(attr)
                if value is None:
                    continue
                if attr == "data" and tag != "object":
                    continue
                if attr in ("href", "xlink:href") and tag not in HREF_RESOURCE_TAGS:
                    continue
                new = self._url(value, el, attr, "image" if attr == "poster" else kind)
                if new is not None and new != value:
                    el.set(attr, new)
            srcset = el.get("srcset")
            if srcset:
                cands = []
                changed = False
                for url, desc in parse_srcset(srcset):
                    new = self._url(url, el, "srcset", "image")
                    if new is not None and new != url:
                        url, changed = new, True
                    cands.append((url, desc))
                if changed:
                    el.set("srcset", format_srcset(cands))
            style = el.get("style")
            if style and "url" in style.lower():
                new_style = self._css(style, self._ref(el, "style"), "", self._file_of(el), declarations=True)
                if new_style != style:
                    el.set("style", new_style)
            if tag == "style" and el.text:
                t = (el.get("type") or "text/css").strip().lower()
                if t in ("", "text/css"):
                    new_text = self._css(el.text, self._ref(el, "<style>"), "", self._file_of(el))
                    if new_text != el.text:
                        el.text = new_text

    def _freeze_link(self, el: Any) -> None:
        href = el.get("href")
        if not href:
            return
        rels = set((el.get("rel") or "").lower().split())
        ref = self._ref(el, "href")
        file = self._file_of(el)
        if "stylesheet" in rels:
            if is_google_fonts_css(href):
                self._google_font(href)
                remove_keep_tail(el)
                return
            if is_remote_url(href):
                new = self._freeze_remote(href, ref, "stylesheet")
                if new:
                    el.set("href", new)
                return
            if is_relative_url(href):
                new = self._local(href, "", ref, file)
                if new is not None:
                    el.set("href", new)
                    rel_path = new.lstrip("/").split("?")[0].split("#")[0]
                else:
                    rel_path = posixpath.normpath(unquote(split_url(href.strip())[0]))
                self._process_css_file(unquote(rel_path), ref)
            elif href.startswith("/"):
                self._rooted(href)
                self._process_css_file(posixpath.normpath(unquote(split_url(href)[0])).lstrip("/"), ref)
            return
        if is_remote_url(href):
            if rels & _DROP_REMOTE_LINK_RELS:
                remove_keep_tail(el)
                return
            new = self._freeze_remote(href, ref, (el.get("as") or "other").lower())
            if new:
                el.set("href", new)
        elif is_relative_url(href) and rels & {"preload", "modulepreload"}:
            new = self._local(href, "", ref, file)
            if new is not None:
                el.set("href", new)

    def _process_css_file(self, rel: str, referenced_by: str) -> None:
        """A local stylesheet in compiled/: its remote URLs frozen, its outside-project URLs
        copied, its Google Fonts imports and remote @font-face rules taken out for step 10."""
        rel = unicodedata.normalize("NFC", rel)
        if rel in self._css_seen:
            return
        self._css_seen.add(rel)
        path = self.compiled_dir / rel
        if not path.is_file():
            return
        try:
            text = read_source(path)
        except (OSError, ValueError):
            return
        base_dir = posixpath.dirname(rel)
        # Local @imports are stylesheets of their own.
        for url in cssscope.collect_css_urls(text):
            if is_relative_url(url) and url.split("?")[0].lower().endswith(".css"):
                target = posixpath.normpath(posixpath.join(base_dir, unquote(split_url(url)[0])))
                if not target.startswith("../"):
                    self._process_css_file(target, f"{rel}")
        new = self._css(text, f"{rel}", base_dir, rel, project_base=base_dir)
        self.local_css_files.append(rel)
        if new != text:
            path.write_text(new, encoding="utf-8")

    def _css(self, text: str, referenced_by: str, base_dir: str, file: str, *,
             declarations: bool = False, project_base: str = "") -> str:
        def local(url: str) -> str | None:
            if is_relative_url(url):
                return self._local(url, base_dir, referenced_by, file)
            self._rooted(url)
            return None

        text = rewrite_css_urls(text, local)
        if self.resolver is not None and any(is_remote_url(u) for u in cssscope.collect_css_urls(text)):
            if declarations:
                text = rewrite_css_urls(text, lambda u: self._freeze_remote(u, referenced_by, "image")
                                        if is_remote_url(u) else None)
            else:
                # Remote @font-face rules and Google Fonts @imports leave the page here: the
                # resolver hands their faces to step 10 (fonts/fonts.css).
                text = self.resolver.rewrite_css(text, None, referenced_by)
        return text

    def _google_font(self, url: str) -> None:
        u = url.strip()
        if u.startswith("//"):
            u = "https:" + u
        if u not in self.google_font_urls:
            self.google_font_urls.append(u)

    # ------------------------------------------------------------------ step 8

    def _merge_head_styles(self, head: Any) -> None:
        styles = [el for el in head if isinstance(el.tag, str) and el.tag == "style"
                  and (el.get("type") or "text/css").strip().lower() in ("", "text/css")]
        if not styles:
            return
        texts = []
        for el in styles:
            css = el.text or ""
            media = (el.get("media") or "").strip()
            if media and media.lower() != "all":
                imports, rest = cssscope.split_imports(css)
                css = "\n".join(imports) + f"\n@media {media}{{{rest}}}"
            texts.append(css)
        merged = new_element("style", None, merge_styles(texts))
        first = styles[0]
        first.addprevious(merged)
        merged.tail = first.tail
        first.tail = None
        for el in styles:
            remove_keep_tail(el)

    # ------------------------------------------------------------------ step 10

    def _fonts(self, doc: Any, head: Any) -> tuple[list[str], FontManifest]:
        api = _font_api()
        normalize = api[0] if api is not None else None
        css_texts: list[str] = []
        for el in iter_elements(doc):
            if el.tag == "style" and el.text and (el.get("type") or "text/css").strip().lower() in ("", "text/css"):
                if normalize is not None:
                    el.text = normalize(el.text)
                css_texts.append(el.text)
            for attr in ("style", "font-family"):
                value = el.get(attr)
                if not value or not value.strip():
                    continue
                if attr == "font-family" and el.tag == "font":
                    continue
                if normalize is not None:
                    new = normalize(value)
                    if new != value:
                        el.set(attr, new)
                        value = new
                css_texts.append(value)
        for rel in self.local_css_files:
            path = self.compiled_dir / rel
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if normalize is not None:
                new = normalize(text)
                if new != text:
                    path.write_text(new, encoding="utf-8")
                    text = new
            css_texts.append(text)
        # The fonts stylesheet comes right after the text-rendering style and the charset.
        head.insert(2, new_element("link", {"rel": "stylesheet", "href": FONTS_CSS_HREF}))
        if api is None or self.resolver is None:
            self.warnings.append(PlanWarning(code="FONTS_UNAVAILABLE",
                                             message="fonts were not embedded (no font module or resolver)"))
            return [], FontManifest()
        self.fonts_dir.mkdir(parents=True, exist_ok=True)
        result = api[1](_document_texts(doc), css_texts, self.fonts_dir, self.resolver,
                        list(self.google_font_urls))
        self.warnings.extend(result.warnings)
        # Faces a script draws with (a canvas line at load) are there before the first script runs.
        inline = [el.text for el in iter_elements(doc) if el.tag == "script" and el.text]
        named = named_families(result.manifest.faces, script_texts(inline, self.compiled_dir))
        if write_script_faces(self.fonts_dir, list(result.manifest.faces), named):
            head.insert(3, new_element("script", {"src": SCRIPT_FACES_SRC}))
        return list(result.families), result.manifest


def _dedupe(warnings: list[PlanWarning]) -> list[PlanWarning]:
    seen = set()
    out = []
    for w in warnings:
        key = (w.code, w.message, w.element, w.attribute, w.url)
        if key not in seen:
            seen.add(key)
            out.append(w)
    return out


def _document_texts(doc: Any) -> list[str]:
    """Text, attribute values and scripts of the page (for subset selection, 12.1)."""
    texts: list[str] = []
    attrs: list[str] = []
    for node in doc.iter():
        if isinstance(node.tag, str):
            if node.text:
                texts.append(node.text)
            attrs.extend(v for v in node.attrib.values() if v)
        if node.tail:
            texts.append(node.tail)
    return ["".join(texts), " ".join(attrs)]


def compile_project(project_dir: Path, entry: str, compiled_dir: Path, fonts_dir: Path, *,
                    variables: dict, asset_dirs: list[Path], cache_dir: Path, fps: Fps | None = None,
                    exclude: Sequence[Path] = (), prober=None,
                    allow_outside: Sequence[Path] = (), loopback_only: bool = False, whole: bool = True,
                    include: Sequence[str] = (), limits: ProjectLimits | None = None,
                    allow_missing_assets: bool = False) -> CompiledComposition:
    """Compile a project into compiled_dir (contract section 13, in order); see the module doc.

    ``cache_dir`` is the user asset cache the resolver reads and fills (the caller's choice, e.g.
    ``hyperdesk.dirs.asset_cache_dir()``); ``loopback_only`` limits the resolver's direct downloads
    to loopback hosts (a test's ``FaultPlan.loopback_only``). ``whole``, ``include`` and ``limits``
    say which files of the project folder are copied (composition/project.py); ``allow_missing_assets``
    renders without a remote asset no tier supplies (an ``ASSET_MISSING`` warning each) instead of failing."""
    compiler = _Compiler(project_dir, entry, compiled_dir, fonts_dir, variables=variables,
                         asset_dirs=asset_dirs, cache_dir=cache_dir, fps=fps, exclude=exclude,
                         prober=prober, allow_outside=allow_outside, loopback_only=loopback_only,
                         whole=whole, include=include, limits=limits, allow_missing=allow_missing_assets)
    return compiler.run()
