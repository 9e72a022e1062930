"""QR codes of the app (check-in tokens, printed codes, pickup codes): one size and margin everywhere."""

from __future__ import annotations

import base64
import io

import qrcode
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathImage

BOX_SIZE = 10  # pixels per module: a phone's camera reads it from arm's length
BORDER = 2  # modules of quiet zone


def png(text: str) -> bytes:
    """``text`` as a QR code in PNG."""
    buffer = io.BytesIO()
    qrcode.make(text, image_factory=PilImage, box_size=BOX_SIZE, border=BORDER).save(buffer, format="PNG")
    return buffer.getvalue()


def svg(text: str) -> str:
    """``text`` as a QR code in SVG (one path, scales without blur on a projector)."""
    image = qrcode.make(text, image_factory=SvgPathImage, box_size=BOX_SIZE, border=BORDER)
    return str(image.to_string(encoding="unicode"))


def svg_data_url(text: str) -> str:
    """``text`` as a QR code in an SVG ``data:`` URL, for an ``<img src>``."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg(text).encode()).decode()
