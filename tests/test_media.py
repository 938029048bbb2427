"""ffprobe metadata, frame sampling and the content-addressed store, on files ffmpeg makes."""

from __future__ import annotations

import numpy as np
import pytest
from mediagen import Caption, make_audio_only, make_corrupt, make_empty, make_rotated, make_video

from dva_ocr.errors import MediaError
from dva_ocr.media import storage
from dva_ocr.media.frames import expected_frames, sample_frames
from dva_ocr.media.probe import probe


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    # a white bar drawn only in [3.0, 3.05]: visible in exactly one 10 fps input frame (t=3.0)
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return make_video(path, [Caption("MARK", 3.0, 3.05, x=0, y=0, size=200)], duration=6, size="320x240")


def _bright(image: np.ndarray) -> bool:
    return float(image[:150, :300].mean()) > 60


def test_probe_reads_video_metadata(clip):
    info = probe(clip)
    assert (info.media_type, info.width, info.height) == ("video", 320, 240)
    assert info.duration == pytest.approx(6.0, abs=0.15)
    assert info.fps == pytest.approx(10.0)
    assert expected_frames(info, 1.0) == 6


def test_frame_k_is_what_is_on_screen_at_k_seconds(clip):
    frames = list(sample_frames(clip, probe(clip), 1.0))
    assert [f.time_s for f in frames] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert [_bright(f.image) for f in frames] == [False, False, False, True, False, False]


def test_sampling_never_exceeds_the_video_frame_rate(clip):
    frames = list(sample_frames(clip, probe(clip), 30.0))
    assert len(frames) == 60  # 6 s at the video's own 10 fps
    assert frames[1].time_s == pytest.approx(0.1)


def test_rotation_metadata_is_honoured(clip, tmp_path):
    rotated = make_rotated(clip, tmp_path / "rot.mp4", 90)
    info = probe(rotated)
    assert (info.width, info.height) == (240, 320)
    frame = next(iter(sample_frames(rotated, info, 1.0)))
    assert frame.image.shape == (320, 240, 3)


def test_images_are_one_frame_media(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.jpg"
    img = Image.new("RGB", (200, 100), (10, 200, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise on display
    img.save(path, exif=exif)
    info = probe(path)
    assert info.media_type == "image"
    frames = list(sample_frames(path, info, 1.0))
    assert len(frames) == 1 and frames[0].time_s == 0.0
    assert frames[0].image.shape == (200, 100, 3)  # EXIF orientation applied


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (make_empty, "not a media file: the file is empty (0 bytes)"),
        (make_corrupt, "not a media file: ffprobe could not read it"),
        (make_audio_only, "not a video: ffprobe found no video stream (streams: audio)"),
    ],
)
def test_unusable_files_raise_actionable_errors(tmp_path, make, message):
    path = make(tmp_path / "bad.mp4")
    with pytest.raises(MediaError) as err:
        probe(path)
    assert str(err.value).startswith(message)


def test_truncated_video_is_refused(clip, tmp_path):
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(clip.read_bytes()[:3000])
    with pytest.raises(MediaError, match="not a media file|no frames could be decoded"):
        info = probe(truncated)
        list(sample_frames(truncated, info, 1.0))


def test_store_is_content_addressed(tmp_path):
    a = tmp_path / "a.mp4"
    b = tmp_path / "copy of a.MP4"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    root = tmp_path / "media"
    pa, sha_a, size = storage.store_original(root, a)
    pb, sha_b, _ = storage.store_original(root, b)
    assert sha_a == sha_b == storage.sha256_file(a)
    assert pa == pb and pa.read_bytes() == b"same bytes" and size == 10
    assert list((root / "originals" / "tmp").iterdir()) == []  # no temporary file left behind
