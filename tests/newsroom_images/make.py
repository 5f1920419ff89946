"""Make the logo test images: real files from a real encoder (Chromium's canvas), not hand-built bytes.

Run once, by hand, and commit the output: .venv/bin/python tests/newsroom_images/make.py
Each is a small drawing of a known size, so the tests can check the width and height
tipline/newsroom.py reads from each kind of header (PNG IHDR, JPEG SOF, WebP VP8/VP8L/VP8X).
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("TIPLINE_CHROMIUM", "/usr/bin/chromium")
# name: (width, height, MIME type, quality, transparent background)
IMAGES = {
    "logo.png": (120, 40, "image/png", None, False),
    "logo.jpg": (96, 48, "image/jpeg", 0.8, False),
    "logo.webp": (80, 30, "image/webp", 0.8, False),  # lossy: simple format, a VP8 chunk only
    "logo-lossless.webp": (64, 24, "image/webp", 1.0, False),  # Chromium's quality 1: VP8L only
    "logo-alpha.webp": (70, 35, "image/webp", 0.8, True),  # extended format: VP8X, ALPH, VP8
}
DRAW = """([w, h, type, quality, clear]) => {
  const c = document.createElement("canvas"); c.width = w; c.height = h;
  const g = c.getContext("2d");
  if (!clear) { g.fillStyle = "#fdfdfb"; g.fillRect(0, 0, w, h); }
  g.fillStyle = "#0b5394"; g.fillRect(4, 4, w / 3, h - 8);
  g.beginPath(); g.arc(w * 0.7, h / 2, h / 3, 0, 2 * Math.PI); g.fillStyle = "#a61b1b"; g.fill();
  return quality === null ? c.toDataURL(type) : c.toDataURL(type, quality);
}"""


def simple_webp(data: bytes) -> bytes:
    """The WebP's image chunk alone (the "simple" file format): Chromium adds VP8X and an ICC profile."""
    chunks, i = [], 12
    while i < len(data):
        size = struct.unpack("<I", data[i + 4 : i + 8])[0]
        chunks.append(data[i : i + 8 + size + (size & 1)])
        i += 8 + size + (size & 1)
    (image,) = [c for c in chunks if c[:4] in (b"VP8 ", b"VP8L")]
    return b"RIFF" + struct.pack("<I", 4 + len(image)) + b"WEBP" + image


def main() -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        page = browser.new_page()
        for name, args in IMAGES.items():
            url = page.evaluate(DRAW, list(args))
            data = base64.b64decode(url.split(",", 1)[1])
            if name in ("logo.webp", "logo-lossless.webp"):
                data = simple_webp(data)
            (HERE / name).write_bytes(data)
        browser.close()


if __name__ == "__main__":
    main()
