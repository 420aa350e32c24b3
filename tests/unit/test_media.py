"""services.media on images made in memory: what is accepted, what is refused with which key, and
what the converters produce (sizes, formats, orientation, alpha, metadata)."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from services.media import (
    MIN_SIDE,
    REJECTION_KEYS,
    ImageRejected,
    fit_image,
    inspect_image,
    shrink_jpeg,
    sniff_format,
    to_jpeg_or_png,
)
from services.providers.base import InputImage
from services.validation import Problem

MB = 1_000_000
RED = (255, 0, 0)
BLUE = (0, 0, 255)


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def solid(
    fmt: str, size: tuple[int, int] = (320, 240), mode: str = "RGB", color: Any = RED, **kw: Any
) -> bytes:
    return encode(Image.new(mode, size, color), fmt, **kw)


def halves(size: tuple[int, int] = (400, 200)) -> Image.Image:
    """Left half red, right half blue: shows which part a crop kept."""
    image = Image.new("RGB", size, RED)
    image.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    return image


def rotated_jpeg() -> bytes:
    """Stored 200×100 with orientation 6 (rotate 90° clockwise to view), red on the stored left."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Camera Maker"
    exif[0x8825] = {2: (48.0, 51.0, 30.0)}  # GPSLatitude: must never reach a provider
    return encode(halves((200, 100)), "JPEG", exif=exif.tobytes(), quality=95)


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (100, 100), color) for color in (RED, BLUE)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares a huge size but holds almost no data: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def decoded(image: InputImage) -> Image.Image:
    result = Image.open(io.BytesIO(image.data))
    result.load()
    return result


JPEG = solid("JPEG")
PADDED = JPEG + b"\0" * 2 * MB  # bytes after the JPEG end marker are ignored by decoders
PNG_ALPHA = solid("PNG", mode="RGBA", color=(0, 0, 255, 128))


@pytest.mark.parametrize(
    ("data", "mime", "size", "mode"),
    [
        pytest.param(JPEG, "image/jpeg", (320, 240), "RGB", id="jpeg"),
        pytest.param(solid("JPEG", mode="L", color=128), "image/jpeg", (320, 240), "RGB", id="grey-jpeg"),
        pytest.param(
            solid("JPEG", mode="CMYK", color=(0, 255, 255, 0)), "image/jpeg", (320, 240), "RGB", id="cmyk"
        ),
        pytest.param(solid("PNG"), "image/png", (320, 240), "RGB", id="png"),
        pytest.param(PNG_ALPHA, "image/png", (320, 240), "RGBA", id="png-alpha"),
        pytest.param(
            solid("PNG", mode="RGBA", color=(9, 9, 9, 255)),
            "image/png",
            (320, 240),
            "RGB",
            id="png-opaque-rgba",
        ),
        pytest.param(solid("PNG", mode="P", color=3), "image/png", (320, 240), "RGB", id="png-palette"),
        pytest.param(solid("PNG", mode="I;16", color=40000), "image/png", (320, 240), "RGB", id="png-16-bit"),
        pytest.param(solid("WEBP"), "image/webp", (320, 240), "RGB", id="webp"),
        pytest.param(
            solid("WEBP", mode="RGBA", color=(0, 0, 255, 0), lossless=True),
            "image/webp",
            (320, 240),
            "RGBA",
            id="webp-alpha",
        ),
        pytest.param(animated("WEBP"), "image/webp", (100, 100), "RGB", id="animated-webp"),
        pytest.param(animated("PNG"), "image/png", (100, 100), "RGB", id="apng"),
        pytest.param(
            solid("PNG", size=(MIN_SIDE, MIN_SIDE)), "image/png", (MIN_SIDE, MIN_SIDE), "RGB", id="smallest"
        ),
        pytest.param(rotated_jpeg(), "image/jpeg", (100, 200), "RGB", id="exif-rotated"),
    ],
)
def test_accepted_images(data: bytes, mime: str, size: tuple[int, int], mode: str) -> None:
    image = inspect_image(data, max_bytes=5 * MB)
    assert (image.mime_type, (image.width, image.height)) == (mime, size)
    result = decoded(image)
    assert result.format == mime.split("/")[1].upper()
    assert (result.size, result.mode) == (size, mode)
    assert not result.getexif(), "metadata is dropped"
    assert getattr(result, "n_frames", 1) == 1


def test_exif_orientation_is_applied_and_first_frame_kept() -> None:
    upright = decoded(inspect_image(rotated_jpeg(), max_bytes=MB))
    top, bottom = upright.getpixel((50, 10)), upright.getpixel((50, 190))
    assert top[0] > 200 > top[2], "the stored left (red) is on top once rotated clockwise"
    assert bottom[2] > 200 > bottom[0]
    first = decoded(inspect_image(animated("WEBP"), max_bytes=MB)).getpixel((50, 50))
    assert first[0] > 200 > first[2], "the first frame (red), not the second"


def test_the_format_comes_from_the_bytes() -> None:
    """A PNG stays a PNG whatever the user called it; the same bytes under any name give one answer."""
    assert inspect_image(solid("PNG"), max_bytes=MB).mime_type == "image/png"
    assert sniff_format(solid("PNG")) == "PNG"
    assert sniff_format(b"hello") is None


def truncated(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


@pytest.mark.parametrize(
    ("data", "max_bytes", "key", "params"),
    [
        pytest.param(solid("GIF"), MB, "error-image-unsupported-format", {"format": "GIF"}, id="gif"),
        pytest.param(
            animated("GIF"), MB, "error-image-unsupported-format", {"format": "GIF"}, id="animated-gif"
        ),
        pytest.param(solid("BMP"), MB, "error-image-unsupported-format", {"format": "BMP"}, id="bmp"),
        pytest.param(solid("TIFF"), MB, "error-image-unsupported-format", {"format": "TIFF"}, id="tiff"),
        pytest.param(
            solid("ICO", size=(64, 64)), MB, "error-image-unsupported-format", {"format": "ICO"}, id="ico"
        ),
        pytest.param(b"%PDF-1.7\n...", MB, "error-image-unsupported-format", {"format": "PDF"}, id="pdf"),
        pytest.param(truncated(JPEG, 0.5), MB, "error-image-corrupt", {}, id="truncated-jpeg"),
        pytest.param(JPEG[:20], MB, "error-image-corrupt", {}, id="jpeg-header-only"),
        pytest.param(
            truncated(solid("PNG", size=(640, 480), mode="RGBA", color=(1, 2, 3, 4)), 0.5),
            MB,
            "error-image-corrupt",
            {},
            id="truncated-png",
        ),
        pytest.param(
            truncated(solid("WEBP", size=(640, 480)), 0.5), MB, "error-image-corrupt", {}, id="truncated-webp"
        ),
        pytest.param(b"this is a text file, not a photo", MB, "error-image-corrupt", {}, id="text"),
        pytest.param(b"", MB, "error-image-corrupt", {}, id="empty"),
        pytest.param(
            solid("PNG", size=(1, 1)),
            MB,
            "error-image-too-small",
            {"width": 1, "height": 1, "min": MIN_SIDE},
            id="1x1",
        ),
        pytest.param(
            solid("JPEG", size=(MIN_SIDE - 1, 500)),
            MB,
            "error-image-too-small",
            {"width": MIN_SIDE - 1, "height": 500, "min": MIN_SIDE},
            id="thin",
        ),
        pytest.param(PADDED, 2 * MB, "error-image-too-large", {"max_mb": "2"}, id="bytes"),
        pytest.param(PADDED, 1_500_000, "error-image-too-large", {"max_mb": "1.5"}, id="bytes-fraction"),
        pytest.param(PADDED, len(PADDED), None, None, id="bytes-at-limit-ok"),
        pytest.param(
            png_header(8000, 8000),
            MB,
            "error-image-too-many-pixels",
            {"max_megapixels": 40},
            id="64-megapixels",
        ),
        pytest.param(
            png_header(100_000, 100_000), MB, "error-image-too-many-pixels", {"max_megapixels": 40}, id="bomb"
        ),
    ],
)
def test_rejected_images(data: bytes, max_bytes: int, key: str | None, params: dict[str, Any] | None) -> None:
    if key is None:
        inspect_image(data, max_bytes=max_bytes)
        return
    with pytest.raises(ImageRejected) as raised:
        inspect_image(data, max_bytes=max_bytes)
    assert (raised.value.reason_key, raised.value.params) == (key, params)
    assert key in REJECTION_KEYS
    assert raised.value.problem == Problem(key, params)


def test_limits_are_parameters() -> None:
    with pytest.raises(ImageRejected) as raised:
        inspect_image(solid("PNG", size=(3000, 1000)), max_bytes=MB, max_pixels=2_000_000)
    assert raised.value.params == {"max_megapixels": 2}
    assert inspect_image(solid("PNG", size=(8, 8)), max_bytes=MB, min_side=8).width == 8


def test_every_rejection_key_is_reachable() -> None:
    cases: list[Callable[[], object]] = [
        lambda: inspect_image(solid("GIF"), max_bytes=MB),
        lambda: inspect_image(b"junk", max_bytes=MB),
        lambda: inspect_image(JPEG, max_bytes=10),
        lambda: inspect_image(png_header(9000, 9000), max_bytes=MB),
        lambda: inspect_image(solid("PNG", size=(2, 2)), max_bytes=MB),
    ]
    keys = set()
    for case in cases:
        with pytest.raises(ImageRejected) as raised:
            case()
        keys.add(raised.value.reason_key)
    assert keys == set(REJECTION_KEYS)


def accepted(data: bytes) -> InputImage:
    return inspect_image(data, max_bytes=20 * MB)


HALVES = accepted(encode(halves(), "PNG"))
CLEAR = accepted(PNG_ALPHA)


@pytest.mark.parametrize(
    ("source", "target", "mode", "fmt", "probes"),
    [
        pytest.param(
            HALVES,
            (100, 100),
            "cover",
            "JPEG",
            {(10, 50): RED, (90, 50): BLUE, (50, 2): None},
            id="cover-crops-centre",
        ),
        pytest.param(
            HALVES,
            (100, 100),
            "contain",
            "JPEG",
            {(50, 10): (0, 0, 0), (10, 50): RED, (90, 50): BLUE},
            id="contain-letterboxes",
        ),
        pytest.param(
            HALVES, (1280, 720), "cover", "PNG", {(5, 360): RED, (1275, 360): BLUE}, id="cover-enlarges"
        ),
        pytest.param(
            accepted(encode(halves((200, 400)), "PNG")),
            (400, 100),
            "contain",
            "PNG",
            {(10, 50): (0, 0, 0), (200, 50): None},
            id="pillarbox",
        ),
        pytest.param(
            CLEAR, (64, 64), "cover", "JPEG", {(32, 32): (127, 127, 255)}, id="alpha-flattened-on-white"
        ),
        pytest.param(
            CLEAR,
            (100, 50),
            "contain",
            "PNG",
            {(2, 25): (0, 0, 0, 255), (50, 25): (0, 0, 255, 128)},
            id="png-keeps-alpha",
        ),
    ],
)
def test_fit_image(
    source: InputImage,
    target: tuple[int, int],
    mode: Any,
    fmt: Any,
    probes: dict[tuple[int, int], tuple[int, ...] | None],
) -> None:
    image = fit_image(source, width=target[0], height=target[1], mode=mode, fmt=fmt)
    assert (image.width, image.height, image.mime_type) == (*target, f"image/{fmt.lower()}")
    result = decoded(image)
    assert result.size == target
    for point, expected in probes.items():
        if expected is not None:
            got = result.getpixel(point)
            assert isinstance(got, tuple)
            assert all(abs(a - b) <= 12 for a, b in zip(got, expected, strict=True)), (point, got, expected)


def test_fit_image_refuses_an_empty_target() -> None:
    with pytest.raises(ValueError, match="positive"):
        fit_image(HALVES, width=0, height=10)


@pytest.mark.parametrize(
    ("source", "max_side", "size"),
    [
        pytest.param(accepted(solid("PNG", size=(3000, 2000))), 1280, (1280, 853), id="landscape"),
        pytest.param(accepted(solid("WEBP", size=(900, 1600))), 800, (450, 800), id="portrait"),
        pytest.param(accepted(solid("JPEG", size=(300, 200))), 1280, (300, 200), id="never-enlarged"),
        pytest.param(CLEAR, 160, (160, 120), id="alpha"),
    ],
)
def test_shrink_jpeg(source: InputImage, max_side: int, size: tuple[int, int]) -> None:
    small = shrink_jpeg(source, max_side=max_side, quality=70)
    assert (small.mime_type, (small.width, small.height)) == ("image/jpeg", size)
    result = decoded(small)
    assert (result.format, result.mode, result.size) == ("JPEG", "RGB", size)


def test_shrink_jpeg_makes_the_retry_smaller() -> None:
    noise = Image.merge("RGB", [Image.effect_noise((1600, 900), 60).convert("L")] * 3)
    noisy = InputImage(encode(noise, "JPEG", quality=95), "image/jpeg", 1600, 900)
    small = shrink_jpeg(noisy)
    assert max(small.width, small.height) == 1280
    assert len(small.data) < len(noisy.data) / 2


@pytest.mark.parametrize(
    ("source", "mime", "same"),
    [
        pytest.param(accepted(JPEG), "image/jpeg", True, id="jpeg-unchanged"),
        pytest.param(CLEAR, "image/png", True, id="png-unchanged"),
        pytest.param(accepted(solid("WEBP")), "image/jpeg", False, id="opaque-webp"),
        pytest.param(
            accepted(solid("WEBP", mode="RGBA", color=(1, 2, 3, 255), lossless=True)),
            "image/jpeg",
            False,
            id="opaque-rgba-webp",
        ),
        pytest.param(
            accepted(solid("WEBP", mode="RGBA", color=(1, 2, 3, 9), lossless=True)),
            "image/png",
            False,
            id="clear-webp",
        ),
    ],
)
def test_to_jpeg_or_png(source: InputImage, mime: str, same: bool) -> None:
    converted = to_jpeg_or_png(source)
    assert converted.mime_type == mime
    assert (converted is source) == same
    assert decoded(converted).size == (source.width, source.height)
