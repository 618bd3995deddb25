"""Audio mix (composition contract 11.2) and audio fit (plan contract 10.2 step 2)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import mediautil as mu
from hyperdesk.encode import probe
from hyperdesk.encode.audio import AudioTrack, atempo_chain, fit_audio, mix_audio, mix_graph, prepare_args
from hyperdesk.errors import HyperdeskError
from hyperdesk.models import Fps

FPS = Fps.of(30)
AAC_FRAME = 1024 / 48000
SINE_HALF_DB = 20 * np.log10(0.5 / np.sqrt(2))  # RMS of a sine of amplitude 0.5: −9.03 dBFS


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tones")
    return {
        "a": mu.make_tone(d / "a.wav", freq=1000, duration=1.0, amplitude=0.5),
        "b": mu.make_tone(d / "b.wav", freq=500, duration=1.0, amplitude=0.25),
        "long": mu.make_tone(d / "long.wav", freq=1000, duration=3.0, amplitude=0.5),
        "mono": mu.make_tone(d / "mono.wav", freq=1000, duration=1.0, amplitude=0.5, channels=1),
    }


def mix(tmp_path: Path, tracks, frames=120, name="audio.m4a") -> tuple[Path, np.ndarray]:
    out = tmp_path / name
    mix_audio(tracks, frames, FPS, out, tmp_path / f"{name}.work")
    return out, mu.decode_audio(out)


def test_tone_placement_and_output_format(tmp_path, tones):
    out, s = mix(tmp_path, [{"src": tones["a"], "start_s": 2.0, "end_s": 3.0, "media_start_s": 0.0,
                             "playback_rate": 1.0, "volume": 1.0}])
    windows = mu.rms_windows(s, 0.01)
    before = windows[: int(1.98 / 0.01)]
    assert max(before) < -60, max(before)
    assert mu.rms_dbfs(s, 0.0, 1.98) < -60
    present = windows[int(2.02 / 0.01): int(2.98 / 0.01)]
    assert min(present) > SINE_HALF_DB - 0.5 and max(present) < SINE_HALF_DB + 0.5
    assert abs(mu.rms_dbfs(s, 2.1, 2.9) - SINE_HALF_DB) < 0.1
    assert mu.rms_dbfs(s, 3.02, 4.0) < -60
    # AAC, 48 kHz, stereo, length = frames / fps within one AAC frame
    summ = probe.stream_summary(out)
    assert (summ["audio_codec"], summ["audio_sample_rate"], summ["audio_channels"]) == ("aac", 48000, 2)
    assert abs(probe.audio_duration_from_packets(out) - 4.0) <= AAC_FRAME
    assert abs(len(s) / 48000 - 4.0) <= AAC_FRAME
    assert out.read_bytes()[4:8] == b"ftyp"
    # deterministic
    out2, _ = mix(tmp_path, [AudioTrack(src=tones["a"], start_s=2.0, end_s=3.0)], name="again.m4a")
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(out2.read_bytes()).digest()
    # the graph went through a file
    graph = (tmp_path / "audio.m4a.work" / "mix.filtergraph").read_text()
    assert "adelay=2000|2000" in graph and "amix=inputs=1:duration=longest:dropout_transition=0,volume=1" in graph


def test_volume_half_is_6db_lower(tmp_path, tones):
    _, full = mix(tmp_path, [AudioTrack(src=tones["a"], start_s=1.0, end_s=2.0)], frames=90, name="full.m4a")
    _, half = mix(tmp_path, [AudioTrack(src=tones["a"], start_s=1.0, end_s=2.0, volume=0.5)], frames=90,
                  name="half.m4a")
    diff = mu.rms_dbfs(full, 1.1, 1.9) - mu.rms_dbfs(half, 1.1, 1.9)
    assert abs(diff - 6.02) < 0.1, diff


def test_two_tracks_keep_their_levels(tmp_path, tones):
    ta = AudioTrack(src=tones["a"], start_s=0.5, end_s=1.5)
    tb = AudioTrack(src=tones["b"], start_s=2.0, end_s=3.0)
    _, only_a = mix(tmp_path, [ta], name="a.m4a")
    _, only_b = mix(tmp_path, [tb], name="b.m4a")
    _, both = mix(tmp_path, [ta, tb], name="ab.m4a")
    a_db, b_db = mu.rms_dbfs(only_a, 0.6, 1.4), mu.rms_dbfs(only_b, 2.1, 2.9)
    assert abs(a_db - SINE_HALF_DB) < 0.1 and abs(b_db - (SINE_HALF_DB - 6.02)) < 0.1
    assert abs(mu.rms_dbfs(both, 0.6, 1.4) - a_db) < 0.1
    assert abs(mu.rms_dbfs(both, 2.1, 2.9) - b_db) < 0.1
    assert mu.rms_dbfs(both, 1.55, 1.95) < -60


def test_no_tracks_is_digital_silence(tmp_path):
    out, s = mix(tmp_path, [], frames=45)
    assert s.shape[1] == 2 and abs(len(s) / 48000 - 1.5) <= AAC_FRAME
    assert not np.any(s)
    summ = probe.stream_summary(out)
    assert (summ["audio_codec"], summ["audio_sample_rate"], summ["audio_channels"]) == ("aac", 48000, 2)


def test_mono_is_panned_without_attenuation(tmp_path, tones):
    _, s = mix(tmp_path, [AudioTrack(src=tones["mono"], start_s=0.0, end_s=1.0)], frames=45)
    left = mu.rms_dbfs(s[:, :1], 0.1, 0.9)
    right = mu.rms_dbfs(s[:, 1:], 0.1, 0.9)
    assert abs(left - SINE_HALF_DB) < 0.1 and abs(right - SINE_HALF_DB) < 0.1


def test_media_start_rate_and_natural_end(tmp_path, tones):
    # 3 s source from media start 1 s at rate 2: plays 1 s from t = 0.5, natural end (end_s None)
    _, s = mix(tmp_path, [{"src": tones["long"], "start_s": 0.5, "end_s": None, "media_start_s": 1.0,
                           "playback_rate": 2.0}], frames=60)
    assert mu.rms_dbfs(s, 0.0, 0.48) < -60
    assert abs(mu.rms_dbfs(s, 0.6, 1.4) - SINE_HALF_DB) < 0.3
    assert mu.rms_dbfs(s, 1.53, 2.0) < -60


def test_atempo_chain_and_prepare_args(tmp_path):
    assert atempo_chain(1.0) == []
    assert atempo_chain(1.5) == ["atempo=1.5"]
    assert atempo_chain(5.0) == ["atempo=2", "atempo=2", "atempo=1.25"]
    assert atempo_chain(0.1) == ["atempo=0.5", "atempo=0.5", "atempo=0.5", "atempo=0.8"]
    assert atempo_chain(100) == atempo_chain(5.0)
    a = prepare_args("/s.mp3", tmp_path / "t.wav", media_start_s=1.0, duration_s=2.0, rate=2.0, channels=1)
    assert a[:6] == ["-ss", "1.000000", "-t", "4.000000", "-i", "/s.mp3"]
    assert a[a.index("-af") + 1] == "pan=stereo|FL=FL+FC|FR=FR+FC,atempo=2"
    assert a[a.index("-af") + 2:a.index("-af") + 4] == ["-t", "2.000000"]
    assert "-ac" not in a and a[a.index("-acodec") + 1] == "pcm_s16le" and a[a.index("-ar") + 1] == "48000"
    b = prepare_args("/s.mp3", tmp_path / "t.wav", media_start_s=0.0, duration_s=2.0, rate=1.0, channels=2)
    assert b[b.index("-ac") + 1] == "2" and "-af" not in b and b.count("-t") == 1


def test_mix_graph_text():
    g = mix_graph([(2.0, 3.0, 1.0), (0.0, 1.5, 0.5)], 4.0)
    assert g.splitlines() == [
        "[0:a]atrim=0:1.000000,volume=1,adelay=2000|2000,apad,asetpts=N/SR/TB,atrim=0:4.000000[a0];",
        "[1:a]atrim=0:1.500000,volume=0.5,adelay=0|0,apad,asetpts=N/SR/TB,atrim=0:4.000000[a1];",
        "[a0][a1]amix=inputs=2:duration=longest:dropout_transition=0,volume=2[mix]",
    ]
    assert "volume=3.981072" in mix_graph([(0, 1, 100.0)], 1.0)


def test_sources_without_audio_are_skipped_and_bad_sources_fail(tmp_path, tones):
    silent_video = mu.make_video(tmp_path / "v.mp4", duration=0.5, size="64x36")
    info = mix_audio([AudioTrack(src=silent_video, start_s=0.0)], 15, FPS, tmp_path / "o.m4a", tmp_path / "w")
    assert info["tracks"] == 0 and info["skipped"] == [str(silent_video)]
    assert not np.any(mu.decode_audio(tmp_path / "o.m4a"))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + b"\x00" * 100)
    with pytest.raises(HyperdeskError) as ei:
        mix_audio([AudioTrack(src=bad, start_s=0.0, end_s=1.0)], 30, FPS, tmp_path / "x.m4a", tmp_path / "w2")
    assert ei.value.code == "AUDIO_MIX_FAILED"


def test_fit_audio_pads_trims_copies(tmp_path, tones):
    src, _ = mix(tmp_path, [AudioTrack(src=tones["a"], start_s=0.0, end_s=1.0)], frames=75)  # 2.5 s
    # within 1 ms: copied byte for byte
    r = fit_audio(src, 2.5, tmp_path / "same.m4a")
    assert r["action"] == "copied" and (tmp_path / "same.m4a").read_bytes() == src.read_bytes()
    # shorter: padded with silence
    r = fit_audio(src, 3.0, tmp_path / "pad.m4a")
    assert r["action"] == "padded"
    assert abs(probe.audio_duration_from_packets(tmp_path / "pad.m4a") - 3.0) <= AAC_FRAME
    s = mu.decode_audio(tmp_path / "pad.m4a")
    assert abs(len(s) / 48000 - 3.0) <= AAC_FRAME
    assert abs(mu.rms_dbfs(s, 0.1, 0.9) - SINE_HALF_DB) < 0.2 and mu.rms_dbfs(s, 2.55, 3.0) < -60
    summ = probe.stream_summary(tmp_path / "pad.m4a")
    assert (summ["audio_codec"], summ["audio_sample_rate"], summ["audio_channels"]) == ("aac", 48000, 2)
    # longer: trimmed
    r = fit_audio(src, 0.5, tmp_path / "trim.m4a")
    assert r["action"] == "trimmed"
    assert abs(probe.audio_duration_from_packets(tmp_path / "trim.m4a") - 0.5) <= AAC_FRAME
    s = mu.decode_audio(tmp_path / "trim.m4a")
    assert abs(len(s) / 48000 - 0.5) <= AAC_FRAME and mu.rms_dbfs(s, 0.05, 0.45) > SINE_HALF_DB - 0.3
    with pytest.raises(HyperdeskError) as ei:
        fit_audio(tmp_path / "nope.m4a", 1.0, tmp_path / "x.m4a")
    assert ei.value.code == "MISSING_PLAN_ARTIFACT"
