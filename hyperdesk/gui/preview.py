"""Preview: the assembled output in a player, and every chunk's first and last frame side by side.

The seam strip lays chunks out left to right, each as [first | last], so the last frame of chunk i
sits right next to the first frame of chunk i + 1: a jump at a seam is visible at a glance.
Thumbnails are extracted by the pinned ffmpeg in a subprocess.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer, QVideoFrame
from PySide6.QtMultimediaWidgets import QVideoWidget
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from hyperdesk.service.frames import ChunkThumbs

THUMB = QSize(160, 90)


def _thumb_label(path: str | None, caption: str) -> QWidget:
    box = QWidget()
    v = QVBoxLayout(box)
    v.setContentsMargins(0, 0, 0, 0)
    v.setSpacing(2)
    img = QLabel()
    img.setFixedSize(THUMB)
    img.setAlignment(Qt.AlignmentFlag.AlignCenter)
    img.setStyleSheet("background: #202124; color: #9aa0a6;")
    if path:
        pix = QPixmap(path)
        if not pix.isNull():
            img.setPixmap(pix.scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation))
            img.setToolTip(path)
        else:
            img.setText("?")
    else:
        img.setText("—")
    cap = QLabel(caption)
    cap.setAlignment(Qt.AlignmentFlag.AlignCenter)
    v.addWidget(img)
    v.addWidget(cap)
    return box


class SeamStrip(QScrollArea):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumHeight(THUMB.height() + 60)
        self.thumbs: list[ChunkThumbs] = []
        self.set_thumbs([])

    def set_thumbs(self, thumbs: list[ChunkThumbs], note: str = "") -> None:
        self.thumbs = list(thumbs)
        inner = QWidget()
        row = QHBoxLayout(inner)
        row.setContentsMargins(4, 4, 4, 4)
        row.setSpacing(0)
        if not thumbs:
            label = QLabel(note or "Chunk thumbnails appear here when chunks are done.")
            label.setEnabled(False)
            row.addWidget(label)
        for n, t in enumerate(thumbs):
            card = QFrame()
            card.setObjectName(f"chunkCard{t.index}")
            card.setFrameShape(QFrame.Shape.StyledPanel)
            v = QVBoxLayout(card)
            v.setContentsMargins(4, 2, 4, 2)
            title = QLabel(f"chunk {t.index} · frames {t.start}–{t.end - 1}")
            title.setAlignment(Qt.AlignmentFlag.AlignCenter)
            v.addWidget(title)
            pair = QHBoxLayout()
            pair.setSpacing(2)
            pair.addWidget(_thumb_label(t.first, f"first ({t.start})"))
            pair.addWidget(_thumb_label(t.last, f"last ({t.end - 1})"))
            v.addLayout(pair)
            if t.error:
                err = QLabel(t.error)
                err.setWordWrap(True)
                err.setEnabled(False)
                v.addWidget(err)
            row.addWidget(card)
            if n + 1 < len(thumbs):
                seam = QLabel("┃")
                seam.setToolTip(f"seam between chunk {t.index} and chunk {thumbs[n + 1].index}")
                seam.setStyleSheet("color: #e08e0b; font-size: 18px;")
                row.addWidget(seam)
        row.addStretch(1)
        self.setWidget(inner)


class PreviewPanel(QWidget):
    refreshSeamsRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fps = 30.0
        self.total_frames = 0
        self._autoplay = False
        self.frames_received = 0
        self.source: str | None = None
        self.shown_frame: int | None = None  # the frame number of the picture on screen
        self._last_frame: QVideoFrame | None = None
        self.video = QVideoWidget()
        self.video.setMinimumSize(QSize(320, 180))
        self.player = QMediaPlayer(self)
        self.audio: QAudioOutput | None = None
        if QMediaDevices.audioOutputs():
            self.audio = QAudioOutput(self)
            self.player.setAudioOutput(self.audio)
        self.player.setVideoOutput(self.video)
        self.sink = self.video.videoSink()
        self.sink.videoFrameChanged.connect(self._frame)

        style = self.style()
        self.play_button = QToolButton()
        self.play_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.clicked.connect(self.toggle)
        self.back_button = QToolButton()
        self.back_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self.back_button.setToolTip("Previous frame (,)")
        self.back_button.clicked.connect(lambda: self.step(-1))
        self.fwd_button = QToolButton()
        self.fwd_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self.fwd_button.setToolTip("Next frame (.)")
        self.fwd_button.clicked.connect(lambda: self.step(1))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.sliderMoved.connect(self.player.setPosition)
        self.slider.sliderPressed.connect(lambda: self.player.setPosition(self.slider.value()))
        self.position_label = QLabel("no output")
        self.position_label.setMinimumWidth(140)
        self.verification = QLabel("")
        self.verification.setWordWrap(True)
        self.verification.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.refresh_button = QPushButton("Refresh seams")
        self.refresh_button.clicked.connect(self.refreshSeamsRequested)
        self.seams = SeamStrip()

        controls = QHBoxLayout()
        controls.addWidget(self.back_button)
        controls.addWidget(self.play_button)
        controls.addWidget(self.fwd_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.position_label)
        top = QWidget()
        tv = QVBoxLayout(top)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addWidget(self.video, 1)
        tv.addLayout(controls)
        tv.addWidget(self.verification)
        bottom = QWidget()
        bv = QVBoxLayout(bottom)
        bv.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>Chunk seams</b> — each chunk's first and last frame"))
        head.addStretch(1)
        head.addWidget(self.refresh_button)
        bv.addLayout(head)
        bv.addWidget(self.seams)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

        self.player.durationChanged.connect(self._duration)
        self.player.positionChanged.connect(self._position)
        self.player.playbackStateChanged.connect(self._state)
        self.player.errorOccurred.connect(self._error)
        self.player.mediaStatusChanged.connect(self._media_status)

    # ---- source ---------------------------------------------------------------------------------

    def set_output(self, path: str | None, fps: float = 30.0, total_frames: int = 0, *, autoplay: bool = False,
                   note: str = "no output") -> None:
        """Load *path* paused on its frame 0 (or play it); without one, say *note* instead."""
        self.fps = fps or 30.0
        self.total_frames = total_frames
        self.player.stop()
        self.frames_received = 0
        self.shown_frame = None
        self._last_frame = None
        self._autoplay = autoplay
        if not path or not Path(path).exists():
            self.source = None
            self.player.setSource(QUrl())
            self.position_label.setText(note)
            return
        p = Path(path)
        if p.is_dir():
            # a png-sequence: the player cannot open a directory; show its first frame in the seams
            self.source = None
            self.player.setSource(QUrl())
            self.position_label.setText("png-sequence (see the frames folder)")
            return
        self.source = str(p)
        self.player.setSource(QUrl.fromLocalFile(str(p)))
        self.position_label.setText(self.counter_text(0))
        if autoplay:
            self.player.play()

    def set_verification(self, text: str) -> None:
        self.verification.setText(text)

    # ---- transport ------------------------------------------------------------------------------

    def toggle(self) -> None:
        if self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self.player.pause()
        elif self.source:
            self.player.play()

    def play(self) -> None:
        if self.source:
            self.player.play()

    def pause(self) -> None:
        self.player.pause()

    def frame_ms(self) -> float:
        return 1000.0 / (self.fps or 30.0)

    def frame_at(self, ms: int) -> int:
        # Frame k covers [k, k+1) frame durations; positions come in whole ms, so 666 ms is the
        # start of frame 10 at 15 fps (666.67 ms): allow that truncation.
        return int(ms / self.frame_ms() + 0.02)

    def current_frame(self) -> int:
        return self.frame_at(self.player.position())

    def step(self, frames: int) -> None:
        """One frame back or forward (the player pauses first)."""
        if not self.source:
            return
        if self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self.player.pause()
        frame = max(0, self.current_frame() + frames)
        if self.total_frames:
            frame = min(frame, self.total_frames - 1)
        # aim at the middle of the frame's display interval so rounding never lands on its neighbour
        self.player.setPosition(int(frame * self.frame_ms() + self.frame_ms() / 2))

    def seek_frame(self, frame: int) -> None:
        self.player.setPosition(int(frame * self.frame_ms() + self.frame_ms() / 2))

    def last_frame_number(self) -> int:
        return max(0, self.total_frames - 1)

    def counter_text(self, frame: int) -> str:
        """`frame 12 / 29 · 0.80s`: the frame on screen and the last frame's number (frames count from 0)."""
        return f"frame {frame} / {self.last_frame_number()} · {frame / (self.fps or 30.0):.2f}s"

    def _frame(self, frame: QVideoFrame) -> None:
        if not frame.isValid():
            return
        self.frames_received += 1
        self._last_frame = frame
        # the counter follows the picture (the frame's own time), not the player's position, which
        # runs ahead of what is shown while paused or seeking
        number = int(frame.startTime() / 1_000_000 * self.fps + 0.5) if frame.startTime() >= 0 else 0
        if self.total_frames:
            number = min(number, self.last_frame_number())
        self.shown_frame = number
        self.position_label.setText(self.counter_text(number))

    def _media_status(self, status: QMediaPlayer.MediaStatus) -> None:
        if status == QMediaPlayer.MediaStatus.LoadedMedia and not self._autoplay:
            self.player.pause()  # paused, the player decodes and shows frame 0; stopped, it shows black
        elif status == QMediaPlayer.MediaStatus.EndOfMedia and self._last_frame is not None:
            # at the end the player hands the sink an empty frame: keep the last picture instead
            self.sink.setVideoFrame(self._last_frame)

    def _duration(self, ms: int) -> None:
        self.slider.setRange(0, max(0, ms))

    def _position(self, ms: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.setValue(ms)

    def _state(self, state: Any) -> None:
        icon = (QStyle.StandardPixmap.SP_MediaPause if state == QMediaPlayer.PlaybackState.PlayingState
                else QStyle.StandardPixmap.SP_MediaPlay)
        self.play_button.setIcon(self.style().standardIcon(icon))

    def _error(self, _err: Any, text: str) -> None:
        if text:
            self.position_label.setText(f"player: {text}")

    def close_media(self) -> None:
        self.player.stop()
        self.player.setSource(QUrl())
