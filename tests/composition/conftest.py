"""Fixtures for the compiler tests: a project builder, a stand-in prober, and the integration
points (asset resolver, fonts) switched off unless a test installs a fake."""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from hyperdesk.composition import compile as compile_mod
from hyperdesk.composition.compile import compile_project


@dataclass
class Probe:
    duration_s: float
    width: int = 0
    height: int = 0
    has_audio: bool = False
    has_video: bool = True


def ffprobe_prober(path: Path) -> Probe:
    """A small ffprobe stand-in for hyperdesk.encode.probe.probe_media."""
    out = subprocess.run(
        [shutil.which("ffprobe") or "/usr/bin/ffprobe", "-v", "error", "-print_format", "json",
         "-show_format", "-show_streams", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    data = json.loads(out)
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    return Probe(
        duration_s=float(data["format"]["duration"]),
        width=int(video["width"]) if video else 0,
        height=int(video["height"]) if video else 0,
        has_audio=audio is not None,
        has_video=video is not None,
    )


class FakeProber:
    """Answers from a table keyed by file name; records every call."""

    def __init__(self, table: Optional[dict[str, Probe]] = None, default: Optional[Probe] = None) -> None:
        self.table = table or {}
        self.default = default or Probe(duration_s=2.0, width=64, height=36, has_audio=True)
        self.calls: list[Path] = []

    def __call__(self, path: Path) -> Probe:
        self.calls.append(Path(path))
        return self.table.get(Path(path).name, self.default)


@pytest.fixture(autouse=True)
def no_integrations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run without the asset resolver and the font module unless they install fakes."""
    monkeypatch.setattr(compile_mod, "_make_resolver", lambda *a, **k: None)
    monkeypatch.setattr(compile_mod, "_font_api", lambda: None)


class Project:
    def __init__(self, root: Path, out: Path) -> None:
        self.root = root
        self.out = out
        self.root.mkdir(parents=True, exist_ok=True)
        self._n = 0

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def compile(self, entry: str = "index.html", *, variables: Optional[dict] = None,
                prober: Optional[Callable] = None, fps: Any = None, exclude=(), name: Optional[str] = None,
                allow_outside=()):
        self._n += 1
        plan = self.out / (name or f"plan{self._n}")
        result = compile_project(
            self.root, entry, plan / "compiled", plan / "fonts",
            variables=variables or {}, asset_dirs=[], cache_dir=self.out / "cache",
            fps=fps, exclude=exclude, prober=prober or FakeProber(), allow_outside=allow_outside,
        )
        self.last_plan = plan
        return result

    def html(self) -> str:
        return (self.last_plan / "compiled" / "index.html").read_text(encoding="utf-8")

    def doc(self):
        import lxml.html

        return lxml.html.document_fromstring(self.html())


@pytest.fixture()
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project", tmp_path / "out")


def page(body: str, *, head: str = "", html_attrs: str = "") -> str:
    return f"<!doctype html><html{html_attrs}><head>{head}</head><body>{body}</body></html>"
