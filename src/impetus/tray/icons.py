"""Status icons drawn at run time with Pillow: no binary assets to ship or keep in sync."""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageDraw

from impetus.tray.state import Status

COLORS: dict[Status, tuple[int, int, int]] = {
    Status.STOPPED: (140, 140, 140),
    Status.STARTING: (240, 170, 30),
    Status.READY: (40, 180, 90),
    Status.BUSY: (50, 130, 230),
    Status.ERROR: (220, 50, 50),
}


@lru_cache(maxsize=16)
def render(status: Status, size: int = 64) -> Image.Image:
    """A filled disc in the status colour with a white bolt-like "i" mark; error gets a cross."""
    scale = 4  # draw large and shrink: cheap anti-aliasing
    big = size * scale
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    pad = big // 16
    draw.ellipse((pad, pad, big - pad, big - pad), fill=(*COLORS[status], 255))
    white = (255, 255, 255, 255)
    c = big // 2
    if status is Status.ERROR:
        w, r = big // 10, big // 4
        draw.line((c - r, c - r, c + r, c + r), fill=white, width=w)
        draw.line((c - r, c + r, c + r, c - r), fill=white, width=w)
    elif status is Status.STOPPED:
        r = big // 7
        draw.rectangle((c - r, c - r, c + r, c + r), fill=white)
    else:
        # The "I" of Impetus: a dot and a stem.
        w = big // 9
        draw.ellipse((c - w, big * 5 // 20 - w, c + w, big * 5 // 20 + w), fill=white)
        draw.rounded_rectangle((c - w, big * 8 // 20, c + w, big * 15 // 20), w // 2, fill=white)
        if status is Status.STARTING:  # a gap in the ring reads as "in progress"
            draw.arc((pad, pad, big - pad, big - pad), 300, 360, fill=(0, 0, 0, 0), width=pad * 2)
    return image.resize((size, size), Image.LANCZOS)
