"""Line art as a drawing program makes it, for the demo's flatting sample, the flatting
benchmark and tests: outlines drawn at 4x the size and reduced with a box filter, so
their edges are antialiased; or the same shapes filled (what flatting should answer)."""

from __future__ import annotations

from PIL import Image, ImageDraw

# (kind: "ellipse" or "box", (left, top, right, bottom) as fractions of the picture's
# width and height, RGB colour)
Shape = tuple[str, tuple[float, float, float, float], tuple[int, int, int]]
PAPER = (250, 248, 240)
SUPERSAMPLE = 4


def draw_line_art(shapes: list[Shape], size: tuple[int, int], line: float, filled: bool,
                  paper: tuple[int, int, int] = PAPER) -> Image.Image:
    """The ``shapes``' outlines, ``line`` px wide, or the shapes filled (``filled``), on
    ``paper``: an RGB picture of ``size`` (width, height)."""
    if min(size) < 1 or line <= 0:
        raise ValueError(f"need a size of at least 1x1 px and a line above 0 px, got {size} "
                         f"and {line}")
    width, height = (SUPERSAMPLE * side for side in size)
    big = Image.new("RGB", (width, height), paper)
    pen = ImageDraw.Draw(big)
    for kind, (left, top, right, bottom), colour in shapes:
        if kind not in ("ellipse", "box"):
            raise ValueError(f"unknown shape {kind!r}; choose 'ellipse' or 'box'")
        box = [round(left * width), round(top * height), round(right * width),
               round(bottom * height)]
        draw = pen.ellipse if kind == "ellipse" else pen.rectangle
        draw(box, outline=colour, width=max(1, round(SUPERSAMPLE * line)),
             fill=colour if filled else None)
    return big.resize(size, Image.Resampling.BOX)
