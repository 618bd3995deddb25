"""Media discovery (3.2, 5.3, 11.1, 11.2): ids, attributes, probed durations, windows."""
from __future__ import annotations

import subprocess

import imageio_ffmpeg
import pytest

from hyperdesk.errors import HyperdeskError

from .conftest import FakeProber, Probe, ffprobe_prober, page


def _media(project, body: str, *, duration: str = "10", files=("a.mp4", "b.mp4", "s.mp3", "t.wav")):
    project.write("index.html", page(f'<div data-composition-id="main" data-duration="{duration}">{body}</div>'))
    for f in files:
        project.write(f"media/{f}", b"not really media")


def _el(doc, media_id):
    return next(e for e in doc.iter() if isinstance(e.tag, str) and e.get("data-hd-media-id") == media_id)


def test_media_ids(project):
    _media(project,
           '<video id="intro" src="media/a.mp4"></video>'
           '<video src="media/a.mp4"></video>'
           '<audio src="media/s.mp3"></audio>'
           '<div data-composition-src="c.html"></div><div data-composition-src="c.html"></div>')
    project.write("c.html", '<template><div data-composition-id="c"><video id="clip" src="media/b.mp4"></video>'
                            '<audio src="media/t.wav"></audio></div></template>')
    r = project.compile()
    doc = project.doc()
    ids = [e.get("data-hd-media-id") for e in doc.iter() if isinstance(e.tag, str) and e.tag in ("video", "audio")]
    assert ids == ["intro", "hd-video-2", "hd-audio-1", "clip__hf1", "hd-audio-2", "clip__hf2", "hd-audio-3"]
    assert [v.media_id for v in r.videos] == ["intro", "hd-video-2", "clip__hf1", "clip__hf2"]
    assert (r.media.video_count, r.media.audio_count, r.media.image_count) == (4, 3, 0)


def test_video_attributes(project):
    _media(project,
           '<video id="v1" src="media/a.mp4" preload="none"></video>'
           '<video id="v2" src="media/a.mp4" muted data-start="1" width="100"></video>'
           '<video id="v3" src="media/a.mp4" data-has-audio="false" preload="auto"></video>'
           '<audio id="a1" src="media/s.mp3" preload="none"></audio>')
    prober = FakeProber(default=Probe(duration_s=4.0, width=640, height=360, has_audio=True))
    project.compile(prober=prober)
    doc = project.doc()
    v1, v2, v3, a1 = (doc.get_element_by_id(i) for i in ("v1", "v2", "v3", "a1"))
    assert v1.get("data-has-audio") == "true" and v1.get("muted") is not None
    assert v1.get("preload") is None
    assert v1.get("data-start") == "0" and v1.get("data-hf-auto-start") is not None
    assert v1.get("data-duration") == "4" and v1.get("data-hd-auto-duration") is not None
    assert (v1.get("width"), v1.get("height")) == ("640", "360")
    assert v2.get("data-has-audio") == "false" and v2.get("data-start") == "1"
    assert v2.get("data-hf-auto-start") is None
    assert (v2.get("width"), v2.get("height")) == ("100", None)  # a size was authored
    assert v3.get("data-has-audio") == "false" and v3.get("preload") == "auto"
    assert a1.get("preload") is None and a1.get("muted") is None
    assert a1.get("data-start") == "0"
    # one probe per source file
    assert sorted(p.name for p in prober.calls) == ["a.mp4", "s.mp3"]


def test_windows(project):
    _media(project,
           '<video id="v1" src="media/a.mp4" data-start="1"></video>'                      # natural: 4 s
           '<video id="v2" src="media/a.mp4" data-start="v1 + 0.5" data-duration="2" data-playback-start="1" '
           'data-playback-rate="2" loop></video>'
           '<video id="v3" src="media/a.mp4" data-start="2" data-end="5"></video>'
           '<video id="v4" src="media/a.mp4" data-start="2" data-end="1"></video>'        # no positive value
           '<video id="v5" src="media/a.mp4" data-media-start="3" data-playback-rate="9"></video>'
           '<audio id="a1" src="media/s.mp3" data-start="3" data-volume="0.5"></audio>'
           '<audio id="a2" src="media/s.mp3" data-duration="100" data-volume="40"></audio>'  # clamped to source
           '<audio id="a3" src="media/s.mp3" data-hidden></audio>'
           '<div data-hidden><audio id="a4" src="media/s.mp3"></audio></div>'
           '<audio id="a5" src="media/s.mp3" data-start="10"></audio>'                    # at the end
           '<video id="v6" src="media/b.mp4" data-start="0"></video>',                    # no audio stream
           )
    prober = FakeProber({"a.mp4": Probe(4.0, 320, 180, True), "s.mp3": Probe(6.0, 0, 0, True, False),
                         "b.mp4": Probe(2.0, 320, 180, False)})
    r = project.compile(prober=prober)
    v = {x.media_id: x for x in r.videos}
    assert (v["v1"].start_s, v["v1"].end_s) == (1.0, 5.0)
    assert (v["v2"].start_s, v["v2"].end_s, v["v2"].media_start_s, v["v2"].playback_rate, v["v2"].loop) == (
        5.5, 7.5, 1.0, 2.0, True)
    assert (v["v3"].start_s, v["v3"].end_s) == (2.0, 5.0)
    assert (v["v4"].start_s, v["v4"].end_s) == (2.0, 6.0)
    assert (v["v5"].media_start_s, v["v5"].playback_rate, v["v5"].end_s) == (3.0, 5.0, 0.2)
    assert v["v1"].src == "media/a.mp4" and v["v1"].has_audio is True
    assert v["v6"].has_audio is False
    tracks = {t.media_id: t for t in r.audio_tracks}
    assert set(tracks) == {"v1", "v2", "v3", "v4", "v5", "a1", "a2"}
    assert (tracks["a1"].start_s, tracks["a1"].end_s, tracks["a1"].volume) == (3.0, 9.0, 0.5)
    assert (tracks["a2"].end_s, round(tracks["a2"].volume, 3)) == (6.0, 3.981)
    assert tracks["v2"].kind == "video" and tracks["a1"].kind == "audio"
    doc = project.doc()
    assert doc.get_element_by_id("v4").get("data-duration") == "4"
    assert doc.get_element_by_id("v3").get("data-duration") is None


def test_media_in_a_sub_composition_follows_its_host(project):
    _media(project, '<div data-composition-id="s" data-composition-src="s.html" data-start="2"></div>')
    project.write("s.html", '<template><div data-composition-id="s"><video src="media/a.mp4"></video>'
                            '<video src="media/a.mp4" data-start="1"></video></div></template>')
    r = project.compile(prober=FakeProber(default=Probe(3.0, 10, 10, False)))
    assert [(x.start_s, x.end_s) for x in r.videos] == [(2.0, 5.0), (3.0, 6.0)]


@pytest.mark.parametrize("src", ["media/nope.mp4", "../nope.mp4", "/media/nope.mp4"])
def test_missing_media_file_is_invalid(project, src):
    _media(project, f'<video id="gone" src="{src}"></video>')
    with pytest.raises(HyperdeskError) as exc:
        project.compile()
    e = exc.value
    assert e.code == "INVALID_COMPOSITION"
    assert (e.details["attribute"], e.details["value"], e.details["element"]["id"]) == ("src", src, "gone")


def test_source_child_and_data_uri(project):
    _media(project, '<video id="v"><source src="media/b.mp4" type="video/mp4"></video>'
                    '<audio id="a" src="data:audio/wav;base64,AAAA"></audio>')
    r = project.compile()
    assert [x.src for x in r.videos] == ["media/b.mp4"]
    assert [t.media_id for t in r.audio_tracks] == ["v"]


def test_real_media_with_ffprobe(project):
    _media(project, '<video id="v" src="media/real.mp4" data-start="0.5"></video>', files=())
    project.root.joinpath("media").mkdir(parents=True, exist_ok=True)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=48x32:r=10:d=1",
                    "-f", "lavfi", "-i", "sine=f=440:d=1", "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-y", str(project.root / "media" / "real.mp4")], check=True, capture_output=True)
    r = project.compile(prober=ffprobe_prober)
    (video,) = r.videos
    assert (video.width, video.height, video.has_audio) == (48, 32, True)
    assert video.start_s == 0.5 and abs(video.end_s - 0.5 - video.source_duration_s) < 1e-9
    el = project.doc().get_element_by_id("v")
    assert (el.get("width"), el.get("height")) == ("48", "32")
    assert abs(float(el.get("data-duration")) - video.source_duration_s) < 1e-9
