"""Memory per image decode (issue 13, item 11): a tiny PNG that decodes to hundreds of MB is refused before
it is decoded, a large JPEG is decoded reduced, and the uploads service decodes two images at a time.

Pillow allocates pixels outside Python's allocator (tracemalloc does not see them), so each decode runs
in a fresh interpreter that reports its peak resident memory (VmHWM) before and after.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest
from PIL import Image

import services.uploads
from services.media import MAX_DECODED_BYTES, inspect_image
from services.settings import Settings
from services.uploads import DECODES_AT_ONCE, Uploads
from storage.local_media import LocalMediaStore

#: What one decode may add to the process's peak: the budget and the copies re-encoding makes. Before
#: the budget, the bomb below added about 500 MB.
PEAK_GROWTH_LIMIT = 3 * MAX_DECODED_BYTES


def png_16bit_rgba(width: int, height: int) -> bytes:
    """An all-zero 16-bit RGBA PNG, written chunk by chunk (a few hundred KB for 6320×6320, however many
    bytes its pixels take decoded)."""
    row = b"\x00" * (1 + width * 8)  # filter byte, then 4 channels of 2 bytes
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


MEASURE = """
import json, sys
from pathlib import Path
from services.media import ImageRejected, inspect_image

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

data = Path(sys.argv[1]).read_bytes()
before = peak()
try:
    image = inspect_image(data, max_bytes=20_000_000)
    outcome = {"size": [image.width, image.height]}
except ImageRejected as rejected:
    outcome = {"key": rejected.reason_key, "params": rejected.params}
print(json.dumps({**outcome, "growth": peak() - before}))
"""


def decode_in_child(path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_a_png_bomb_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    bomb = png_16bit_rgba(6320, 6320)
    assert len(bomb) < 400_000  # 320 MB of 16-bit pixels
    path = tmp_path / "zeros.png"
    path.write_bytes(bomb)
    result = decode_in_child(path)
    assert (result["key"], result["params"]) == ("error-image-too-many-pixels", {"max_megapixels": 12})
    assert isinstance(result["growth"], int) and result["growth"] < PEAK_GROWTH_LIMIT, result


def test_a_large_jpeg_is_decoded_reduced_within_the_budget(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (7000, 5000), (40, 90, 160)).save(out, "JPEG", quality=80)  # 35 MP: 140 MB decoded
    path = tmp_path / "big.jpg"
    path.write_bytes(out.getvalue())
    result = decode_in_child(path)
    assert result["size"] == [3500, 2500]  # libjpeg decoded it at half size
    assert isinstance(result["growth"], int) and result["growth"] < PEAK_GROWTH_LIMIT, result


def test_an_image_within_the_budget_keeps_its_size() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (3000, 3000), (1, 2, 3, 100)).save(out, "PNG")  # 9 MP: 36 MB decoded
    image = inspect_image(out.getvalue(), max_bytes=20_000_000)
    assert (image.width, image.height, image.mime_type) == (3000, 3000, "image/png")


@pytest.mark.timeout(60)
async def test_uploads_decode_two_images_at_a_time(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside, most = 0, 0
    lock, release = threading.Lock(), threading.Event()
    loop = asyncio.get_running_loop()
    two_inside = asyncio.Event()

    def decode(data: bytes, *, max_bytes: int) -> object:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
            if inside == DECODES_AT_ONCE:
                loop.call_soon_threadsafe(two_inside.set)
        try:
            release.wait(30)
            return inspect_image(data, max_bytes=max_bytes)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(services.uploads, "inspect_image", decode)
    uploads = Uploads(
        LocalMediaStore(tmp_path / "media", public_base_url=None, link_secret=b"k" * 32), settings
    )
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (9, 9, 9)).save(out, "PNG")
    tasks = [asyncio.create_task(uploads.keep_image(user, out.getvalue())) for user in range(1, 5)]
    await two_inside.wait()
    release.set()
    refs = await asyncio.gather(*tasks)
    assert most == DECODES_AT_ONCE == 2
    assert len({ref.source for ref in refs}) == 4
