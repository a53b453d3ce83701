from impetus.tray.icons import COLORS, render
from impetus.tray.state import Status


def test_every_status_has_its_own_icon():
    centres = set()
    for status in Status:
        image = render(status, 32)
        assert image.size == (32, 32) and image.mode == "RGBA"
        assert image.getpixel((0, 0))[3] == 0  # transparent corner
        centres.add(image.getpixel((6, 16))[:3])
    assert len(centres) == len(Status) == len(COLORS)
