"""Render settings (format, quality, fps, chunk size, output), remembered per composition."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from hyperdesk.service import FarmRequest, RenderRequest

FORMATS = ["mp4", "mov", "webm", "png-sequence"]
QUALITIES = ["draft", "standard", "high"]
FPS_CHOICES = ["", "24", "25", "30", "50", "60", "24000/1001", "30000/1001"]
EXTENSIONS = {"mp4": ".mp4", "mov": ".mov", "webm": ".webm", "png-sequence": ""}


@dataclass
class RenderSettings:
    format: str = "mp4"
    quality: str = "standard"
    fps: str = ""  # "" = the composition's own rate
    chunk_frames: int = 0  # 0 = automatic
    keyframe_interval: int = 0  # 0 = automatic (2 s)
    output: str = ""
    keep_chunks: bool = False  # keep chunk files after assembly (re-assemble by hand, per-chunk seams)
    overwrite: bool = False  # replace an output hyperdesk did not write / an earlier render's frames
    variables: dict[str, Any] = field(default_factory=dict)

    def request(self, composition: str, farm: FarmRequest) -> RenderRequest:
        """The render request these settings make for a composition (the same model the CLI builds)."""
        config: dict[str, Any] = {"format": self.format, "quality": self.quality}
        if self.fps:
            config["fps"] = self.fps
        if self.chunk_frames > 0:
            config["chunk_frames"] = self.chunk_frames
        if self.keyframe_interval > 0:
            config["keyframe_interval"] = self.keyframe_interval
        if self.variables:
            config["variables"] = dict(self.variables)
        output = self.output or default_output(composition, self.format)
        farm = farm.model_copy(update={"keep_chunks": self.keep_chunks})
        return RenderRequest.create(composition, output, farm=farm, overwrite=self.overwrite, **config)


def composition_key(path: str) -> str:
    """QSettings group of one composition (its absolute path, hashed: paths contain '/')."""
    return hashlib.sha1(str(Path(path).expanduser().absolute()).encode("utf-8")).hexdigest()[:16]


def default_output(composition: str, fmt: str) -> str:
    p = Path(composition).expanduser().absolute()
    is_file = p.is_file() or (not p.is_dir() and p.suffix.lower() in (".html", ".htm"))
    base = p.parent if is_file else p
    stem = p.stem if is_file and p.stem != "index" else base.name
    return str(base / "renders" / f"{stem}{EXTENSIONS.get(fmt, '')}")


def _int_value(value: object) -> int:
    """A stored number: QSettings gives it back as an int, or as a string from an ini file."""
    if not value:
        return 0
    if isinstance(value, (int, float, str)):
        return int(value)
    raise TypeError(f"not a stored number: {value!r}")


def load_settings(settings: QSettings, composition: str) -> RenderSettings:
    s = RenderSettings()
    settings.beginGroup(f"compositions/{composition_key(composition)}")
    try:
        s.format = str(settings.value("format", s.format))
        s.quality = str(settings.value("quality", s.quality))
        s.fps = str(settings.value("fps", s.fps) or "")
        s.chunk_frames = _int_value(settings.value("chunk_frames", s.chunk_frames))
        s.keyframe_interval = _int_value(settings.value("keyframe_interval", s.keyframe_interval))
        s.output = str(settings.value("output", "") or "")
        s.keep_chunks = str(settings.value("keep_chunks", "false")).lower() in ("true", "1")
        s.overwrite = str(settings.value("overwrite", "false")).lower() in ("true", "1")
        try:
            s.variables = json.loads(str(settings.value("variables", "{}") or "{}"))
        except ValueError:
            s.variables = {}
    finally:
        settings.endGroup()
    if s.format not in FORMATS:
        s.format = "mp4"
    if s.quality not in QUALITIES:
        s.quality = "standard"
    if not s.output:
        s.output = default_output(composition, s.format)
    return s


def save_settings(settings: QSettings, composition: str, s: RenderSettings) -> None:
    settings.beginGroup(f"compositions/{composition_key(composition)}")
    try:
        settings.setValue("path", str(Path(composition).absolute()))
        for key, value in asdict(s).items():
            if key == "variables":
                value = json.dumps(value, sort_keys=True)
            settings.setValue(key, value)
    finally:
        settings.endGroup()
    settings.sync()


class RenderSettingsPanel(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False
        self.composition: str | None = None
        self.format = QComboBox()
        self.format.addItems(FORMATS)
        self.quality = QComboBox()
        self.quality.addItems(QUALITIES)
        self.fps = QComboBox()
        self.fps.setEditable(True)
        for f in FPS_CHOICES:
            self.fps.addItem(f or "composition", f)
        self.fps.setToolTip("An integer 1-240 or num/den (e.g. 30000/1001); 'composition' keeps data-fps")
        self.chunk = QSpinBox()
        self.chunk.setRange(0, 100000)
        self.chunk.setSpecialValueText("auto")
        self.chunk.setSuffix(" frames")
        self.chunk.setToolTip("Frames per chunk, rounded up to the keyframe interval (auto: a quarter of the "
                              "composition, at most 240 frames; never sized by the workers, so every farm renders "
                              "the same bytes)")
        self.keyframes = QSpinBox()
        self.keyframes.setRange(0, 10000)
        self.keyframes.setSpecialValueText("auto (2 s)")
        self.keyframes.setSuffix(" frames")
        self.output = QLineEdit()
        self.output.setPlaceholderText("output file")
        browse = QPushButton("…")
        browse.setFixedWidth(28)
        browse.clicked.connect(self.choose_output)
        out_row = QHBoxLayout()
        out_row.setContentsMargins(0, 0, 0, 0)
        out_row.addWidget(self.output, 1)
        out_row.addWidget(browse)
        out_box = QWidget()
        out_box.setLayout(out_row)
        self.keep_chunks = QCheckBox("Keep chunk files")
        self.keep_chunks.setToolTip("Keep the chunk files after assembly. Chunks are assembled automatically when "
                                    "all are done. Keeping their files "
                                    "allows assembling again by hand and per-chunk seam thumbnails.")

        self.overwrite = QCheckBox("Replace an existing output")
        self.overwrite.setToolTip("A render replaces its own earlier output. With this, it also replaces a file "
                                  "of that name it did not write; a png-sequence reuses a folder holding an earlier "
                                  "render: its recorded frame files are replaced, every other file stays.")

        form = QFormLayout(self)
        # a narrow dock puts each field under its label instead of scrolling sideways
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("Format", self.format)
        form.addRow("Quality", self.quality)
        form.addRow("Frame rate", self.fps)
        form.addRow("Chunk size", self.chunk)
        form.addRow("Keyframe interval", self.keyframes)
        form.addRow("Output", out_box)
        form.addRow("", self.keep_chunks)
        form.addRow("", self.overwrite)
        for sig in (self.format.currentIndexChanged, self.quality.currentIndexChanged, self.fps.currentTextChanged,
                    self.chunk.valueChanged, self.keyframes.valueChanged, self.output.textChanged,
                    self.keep_chunks.toggled, self.overwrite.toggled):
            sig.connect(self._changed)
        self.format.currentTextChanged.connect(self._format_changed)
        self.setEnabled(False)

    def _changed(self, *_: Any) -> None:
        if not self._loading:
            self.changed.emit()

    def _format_changed(self, fmt: str) -> None:
        """Keep the output's extension in step with the format."""
        if self._loading or not self.output.text():
            return
        p = Path(self.output.text())
        stem = p.name[: -len(p.suffix)] if p.suffix.lower() in (".mp4", ".mov", ".webm") else p.name
        self.output.setText(str(p.with_name(stem + EXTENSIONS.get(fmt, ""))))

    def choose_output(self) -> None:
        fmt = self.format.currentText()
        if fmt == "png-sequence":
            path = QFileDialog.getExistingDirectory(self, "Output folder", str(Path(self.output.text() or ".").parent))
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Output file", self.output.text(),
                                                  f"{fmt} (*{EXTENSIONS[fmt]})")
        if path:
            if fmt != "png-sequence" and Path(path).is_file():
                self.overwrite.setChecked(True)  # the file dialog asked whether to replace it, and was told yes
            self.output.setText(path)

    def set_settings(self, composition: str, s: RenderSettings) -> None:
        self._loading = True
        try:
            self.composition = composition
            self.format.setCurrentText(s.format)
            self.quality.setCurrentText(s.quality)
            i = self.fps.findData(s.fps)
            if i >= 0:
                self.fps.setCurrentIndex(i)
            else:
                self.fps.setEditText(s.fps)
            self.chunk.setValue(s.chunk_frames)
            self.keyframes.setValue(s.keyframe_interval)
            self.output.setText(s.output)
            self.keep_chunks.setChecked(s.keep_chunks)
            self.overwrite.setChecked(s.overwrite)
            self.setEnabled(True)
        finally:
            self._loading = False

    def settings(self) -> RenderSettings:
        fps_text = self.fps.currentText().strip()
        data = self.fps.currentData()
        fps = data if data is not None and self.fps.itemText(self.fps.currentIndex()) == fps_text else fps_text
        if fps == "composition":
            fps = ""
        return RenderSettings(format=self.format.currentText(), quality=self.quality.currentText(), fps=str(fps or ""),
                              chunk_frames=self.chunk.value(), keyframe_interval=self.keyframes.value(),
                              output=self.output.text().strip(), keep_chunks=self.keep_chunks.isChecked(),
                              overwrite=self.overwrite.isChecked())
