"""Put images side by side in one PNG: an input, its mask and the result (for the README), or any strip."""

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


def strip(panels: list[tuple[str, Path]], destination: Path, *, height: int = 256) -> Path:
    """
    Write the images side by side, scaled to ``height`` under their captions (transparency on a checkerboard).

    :param panels: each image's caption and path.
    :param destination: the PNG to write.
    :param height: the height every panel is scaled to.
    """
    caption = 18
    images = []
    for _, path in panels:
        with Image.open(path) as opened:
            image = opened.convert("RGBA")
        width = max(1, round(image.width * height / image.height))
        images.append(image.resize((width, height)))
    sheet = Image.new(
        "RGB", (sum(i.width for i in images) + 10 * (len(images) - 1), height + caption), "white"
    )
    draw = ImageDraw.Draw(sheet)
    left = 0
    for (title, _), image in zip(panels, images, strict=True):
        board = Image.new("RGBA", image.size, (255, 255, 255, 255))
        squares = ImageDraw.Draw(board)
        for y in range(0, image.height, 16):
            for x in range((y // 16) % 2 * 16, image.width, 32):
                squares.rectangle((x, y, x + 15, y + 15), fill=(220, 220, 220, 255))
        board.alpha_composite(image)
        sheet.paste(board.convert("RGB"), (left, caption))
        draw.text((left + 4, 3), title, fill="black")
        left += image.width + 10
    destination.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(destination, optimize=True)
    return destination


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit("usage: side_by_side.py IMAGE MASK RESULT DESTINATION")
    print(side_by_side(*(Path(a) for a in sys.argv[1:5])))
