"""Image processing alone: what is accepted, what is refused, what is stripped."""

from __future__ import annotations

import io

import pytest
from PIL import ExifTags, Image, ImageFile

from shop.kit.errors import PayloadTooLargeError
from shop.products import images
from shop.products.errors import ImageDimensionsError, UnreadableImageError, UnsupportedImageError
from shop.products.images import ImageLimits, process_image, process_upload, read_limited
from tests.products.images_support import (
    BLUE,
    RED,
    animated_gif,
    jpeg_with_exif,
    near,
    opened,
    png_bomb,
    png_with_metadata,
    webp_with_metadata,
)

LIMITS = ImageLimits(max_bytes=10 * 1024 * 1024, max_pixels=40_000_000, thumbnail_size=320)


def test_a_camera_jpeg_is_turned_upright_and_loses_its_metadata() -> None:
    source = opened(jpeg_with_exif((400, 200), orientation=6))
    assert source.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test image has a position

    result = process_image(jpeg_with_exif((400, 200), orientation=6), LIMITS)

    assert (result.content_type, result.extension) == ("image/jpeg", ".jpg")
    # Orientation 6: the camera was turned clockwise; upright, the left half is on top.
    assert (result.width, result.height) == (200, 400)
    stored = opened(result.data)
    assert stored.format == "JPEG"
    assert stored.size == (200, 400)
    assert near(stored.getpixel((100, 50)), RED)
    assert near(stored.getpixel((100, 350)), BLUE)
    assert "exif" not in stored.info
    assert "comment" not in stored.info
    assert len(stored.getexif()) == 0
    assert b"Spy Camera" not in result.data
    assert b"Exif" not in result.data


def test_the_thumbnail_fits_the_box_and_keeps_the_aspect() -> None:
    result = process_image(jpeg_with_exif((1600, 800), orientation=1), LIMITS)
    thumbnail = opened(result.thumbnail)
    assert thumbnail.format == "WEBP"
    assert result.thumbnail_content_type == "image/webp"
    assert thumbnail.size == (result.thumbnail_width, result.thumbnail_height) == (320, 160)
    assert near(thumbnail.getpixel((40, 80)), RED)
    assert near(thumbnail.getpixel((280, 80)), BLUE)
    assert "exif" not in thumbnail.info


def test_a_small_image_is_not_enlarged_for_its_thumbnail() -> None:
    result = process_image(animated_gif((120, 80)), LIMITS)
    assert (result.thumbnail_width, result.thumbnail_height) == (120, 80)


def test_png_keeps_alpha_and_drops_text_and_exif() -> None:
    result = process_image(png_with_metadata((300, 500)), LIMITS)
    assert (result.content_type, result.width, result.height) == ("image/png", 300, 500)
    stored = opened(result.data)
    assert stored.mode == "RGBA"
    assert stored.getpixel((0, 0))[3] == 0
    assert "Author" not in stored.info
    assert "exif" not in stored.info
    assert b"Secret Lane" not in result.data
    assert opened(result.thumbnail).mode == "RGBA"


def test_webp_drops_exif_and_xmp() -> None:
    result = process_image(webp_with_metadata((640, 480)), LIMITS)
    assert (result.content_type, result.width, result.height) == ("image/webp", 640, 480)
    stored = opened(result.data)
    assert stored.format == "WEBP"
    assert not stored.info.get("exif")
    assert not stored.info.get("xmp")
    assert b"secret" not in result.data
    assert (result.thumbnail_width, result.thumbnail_height) == (320, 240)


def test_an_animated_gif_stays_animated_without_its_comment() -> None:
    result = process_image(animated_gif((120, 80), frames=3), LIMITS)
    assert (result.content_type, result.width, result.height, result.frames) == (
        "image/gif",
        120,
        80,
        3,
    )
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.n_frames == 3
        assert "comment" not in stored.info
        assert stored.info.get("duration") == 100
    assert b"secret tool" not in result.data
    assert opened(result.thumbnail).size == (120, 80)


def test_what_is_not_an_image_is_unsupported() -> None:
    for data in (b"just some text, named photo.png", b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 10):
        with pytest.raises(UnsupportedImageError) as caught:
            process_image(data, LIMITS)
        assert caught.value.status == 415


def test_other_image_formats_are_unsupported() -> None:
    for kind in ("BMP", "TIFF", "PPM"):
        out = io.BytesIO()
        Image.new("RGB", (10, 10)).save(out, kind)
        with pytest.raises(UnsupportedImageError):
            process_image(out.getvalue(), LIMITS)


def test_a_truncated_image_is_unreadable() -> None:
    data = jpeg_with_exif((800, 600), orientation=1)
    with pytest.raises(UnreadableImageError) as caught:
        process_image(data[: len(data) // 2], LIMITS)
    assert caught.value.status == 422


@pytest.mark.parametrize(
    "side",
    [
        30_000,  # beyond Pillow's own bomb limit too
        8_000,  # 64 megapixels: within Pillow's limit, beyond the shop's
    ],
)
def test_a_decompression_bomb_is_refused_before_its_pixels_are_decoded(
    monkeypatch: pytest.MonkeyPatch, side: int
) -> None:
    bomb = png_bomb(side, side)
    assert len(bomb) < 500_000
    decoded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def spying_load(self: ImageFile.ImageFile) -> object:
        decoded.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spying_load)
    with pytest.raises(ImageDimensionsError) as caught:
        process_image(bomb, LIMITS)
    assert caught.value.status == 422
    assert decoded == []  # nothing was decoded: the header gave it away


def test_the_pixel_limit_is_the_setting() -> None:
    data = jpeg_with_exif((400, 200), orientation=1)
    tight = ImageLimits(max_bytes=LIMITS.max_bytes, max_pixels=400 * 200 - 1, thumbnail_size=64)
    with pytest.raises(ImageDimensionsError):
        process_image(data, tight)
    exact = ImageLimits(max_bytes=LIMITS.max_bytes, max_pixels=400 * 200, thumbnail_size=64)
    assert process_image(data, exact).width == 400


def test_every_frame_of_an_animation_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    data = animated_gif((100, 100), frames=4)
    limits = ImageLimits(max_bytes=LIMITS.max_bytes, max_pixels=3 * 100 * 100, thumbnail_size=64)
    with pytest.raises(ImageDimensionsError):
        process_image(data, limits)
    monkeypatch.setattr(images, "MAX_FRAMES", 3)
    with pytest.raises(ImageDimensionsError):
        process_image(data, LIMITS)


def test_too_many_bytes_are_refused() -> None:
    limits = ImageLimits(max_bytes=1024, max_pixels=LIMITS.max_pixels, thumbnail_size=64)
    with pytest.raises(PayloadTooLargeError) as caught:
        process_image(b"\0" * 1025, limits)
    assert caught.value.status == 413


async def test_an_upload_is_read_no_further_than_the_limit() -> None:
    class Source:
        def __init__(self, size: int) -> None:
            self.file = io.BytesIO(b"x" * size)
            self.asked: list[int] = []

        async def read(self, size: int = -1) -> bytes:
            self.asked.append(size)
            return self.file.read(size)

    exact = Source(1000)
    assert await read_limited(exact, 1000) == b"x" * 1000
    larger = Source(50_000)
    with pytest.raises(PayloadTooLargeError):
        await read_limited(larger, 1000)
    assert larger.asked == [1001]


async def test_processing_runs_off_the_event_loop() -> None:
    result = await process_upload(jpeg_with_exif((64, 32), orientation=1), LIMITS)
    assert (result.width, result.height) == (64, 32)
