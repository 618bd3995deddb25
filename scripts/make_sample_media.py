"""Generate the sample composition's image and audio clip with the pinned ffmpeg (never committed)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parent.parent / "resources" / "sample"


def main() -> None:
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    image = ROOT / "assets" / "gradient.png"
    audio = ROOT / "audio" / "chime.wav"
    image.parent.mkdir(parents=True, exist_ok=True)
    audio.parent.mkdir(parents=True, exist_ok=True)
    if not image.exists():
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i",
                        "gradients=s=640x360:c0=0x2b1055:c1=0x7597de:x0=0:y0=0:x1=640:y1=360:d=1",
                        "-frames:v", "1", "-y", str(image)], check=True)
    if not audio.exists():
        # A 4-second chime: a 660 Hz tone under a 2 Hz tremolo, quiet enough to sit under picture.
        subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=frequency=660:duration=4:sample_rate=48000",
                        "-af", "tremolo=f=2:d=0.6,volume=0.4,afade=t=in:d=0.05,afade=t=out:st=3.5:d=0.5",
                        "-ac", "2", "-y", str(audio)], check=True)


if __name__ == "__main__":
    main()
