"""Images built in memory for the upload tests."""

from __future__ import annotations

import io
import random
import struct
import zlib
from typing import Any

from PIL import Image


def image_bytes(
    fmt: str = "JPEG", size: tuple[int, int] = (20, 10), mode: str = "RGB", color: Any = None, **save: Any
) -> bytes:
    """A plain image of ``size`` encoded as ``fmt`` (extra keywords go to ``Image.save``)."""
    default = {"RGB": (200, 30, 30), "RGBA": (200, 30, 30, 128), "CMYK": (0, 200, 200, 0)}.get(mode, 128)
    out = io.BytesIO()
    Image.new(mode, size, default if color is None else color).save(out, fmt, **save)
    return out.getvalue()


def noise_bytes(fmt: str = "JPEG", size: tuple[int, int] = (200, 200), seed: int = 1, **save: Any) -> bytes:
    """An RGB image of random pixels: it barely compresses, so its size is predictable."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)  # noqa: S311  (reproducible noise pixels, not a secret)
    out = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(out, fmt, **save)
    return out.getvalue()


def halves_bytes(fmt: str = "JPEG", exif: Image.Exif | None = None) -> bytes:
    """A 20×10 image, red on the left half and blue on the right."""
    image = Image.new("RGB", (20, 10), (255, 0, 0))
    image.paste((0, 0, 255), (10, 0, 20, 10))
    out = io.BytesIO()
    image.save(out, fmt, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def mpo_bytes(exif: Image.Exif | None = None) -> bytes:
    """A multi-picture JPEG (MPO) as phones write it: a red 20×10 photo, then a blue second picture."""
    first, second = Image.new("RGB", (20, 10), (255, 0, 0)), Image.new("RGB", (20, 10), (0, 0, 255))
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second], **({"exif": exif} if exif else {}))
    return out.getvalue()


def gps_exif() -> Image.Exif:
    """EXIF as a phone writes it: camera make and model, and where the photo was taken (GPS IFD 0x8825)."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone 15"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"  # GPSLatitudeRef
    gps[2] = (39.0, 54.0, 26.0)  # GPSLatitude: Beijing
    gps[3] = "E"  # GPSLongitudeRef
    gps[4] = (116.0, 23.0, 29.0)  # GPSLongitude
    return exif


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width``×``height`` grey pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def sparse_png(width: int, height: int, noisy_rows: int = 0, seed: int = 1) -> bytes:
    """A real RGBA PNG, uniform but for ``noisy_rows`` rows of random pixels, streamed (never held whole)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rng = random.Random(seed)  # noqa: S311  (reproducible noise pixels, not a secret)
    noisy = set(rng.sample(range(height), noisy_rows))
    plain = b"\x00" + bytes((200, 30, 30, 255)) * width
    compressor = zlib.compressobj(9)
    parts = [
        compressor.compress(b"\x00" + rng.randbytes(width * 4) if y in noisy else plain)
        for y in range(height)
    ]
    idat = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
