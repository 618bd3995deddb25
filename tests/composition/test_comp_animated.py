"""Compile step 5: animated images become looping video clips; still images stay images."""
from pathlib import Path

import pytest

import mediautil as mu
from hyperdesk.composition.animated import convert_animated_images, is_animated_image
from hyperdesk.composition.document import parse_html


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    src = ["-f", "lavfi", "-i", "testsrc2=s=40x30:r=10:d=1"]
    mu.ffmpeg(*src, "-y", d / "anim.gif")
    mu.ffmpeg(*src, "-plays", "0", "-f", "apng", "-y", d / "anim.png")
    mu.ffmpeg(*src, "-loop", "0", "-y", d / "anim.webp")
    mu.ffmpeg(*src, "-frames:v", "1", "-y", d / "still.gif")
    mu.ffmpeg(*src, "-frames:v", "1", "-y", d / "still.png")
    mu.ffmpeg(*src, "-frames:v", "1", "-y", d / "still.webp")
    return d


@pytest.mark.parametrize("name,animated", [("anim.gif", True), ("anim.png", True), ("anim.webp", True),
                                           ("still.gif", False), ("still.png", False), ("still.webp", False)])
def test_detection(images, name, animated):
    assert is_animated_image(images / name) is animated


def test_conversion_keeps_box_attributes(images):
    doc = parse_html('<html><body><img id="a" class="c" src="anim.gif" alt="x" style="width:40px">'
                     '<img id="s" src="still.png"></body></html>')
    assert convert_animated_images(doc, images, 3.0) == 1
    video = doc.find(".//video")
    assert video.get("id") == "a" and video.get("class") == "c" and video.get("style") == "width:40px"
    assert video.get("loop") == "" and video.get("muted") == "" and video.get("data-has-audio") == "false"
    assert video.get("data-duration") == "3.0" and "alt" not in video.attrib
    assert doc.find(".//img").get("id") == "s"
