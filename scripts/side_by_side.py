"""Put an input image, its mask and the inpainted result side by side in one PNG (for the README)."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw


def side_by_side(image: Path, mask: Path, result: Path, destination: Path) -> Path:
    """Write ``input | mask | result`` with captions to ``destination`` and return it."""
    panels = [Image.open(p).convert("RGB") for p in (image, mask, result)]
    width, height = panels[0].size
    caption = 18
    sheet = Image.new("RGB", (3 * width + 20, height + caption), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (panel, title) in enumerate(zip(panels, ("input", "mask", "result"), strict=True)):
        left = index * (width + 10)
        sheet.paste(panel.resize((width, height)), (left, caption))
        draw.text((left + 4, 3), title, fill="black")
    destination.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(destination, optimize=True)
    return destination


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit("usage: side_by_side.py IMAGE MASK RESULT DESTINATION")
    print(side_by_side(*(Path(a) for a in sys.argv[1:5])))
