"""Logo test images made by Chromium's encoders (make.py), one per header layout tipline/newsroom.py reads."""

from pathlib import Path

IMAGES = Path(__file__).parent
# file name: (kind, width, height), as make.py drew them.
SIZES = {
    "logo.png": ("png", 120, 40),
    "logo.jpg": ("jpeg", 96, 48),
    "logo.webp": ("webp", 80, 30),
    "logo-lossless.webp": ("webp", 64, 24),
    "logo-alpha.webp": ("webp", 70, 35),
}
