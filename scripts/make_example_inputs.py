"""Draw the example images, masks and cut-out in dags/examples/data (small, committed; rerun to refresh)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

DATA = Path(__file__).resolve().parent.parent / "dags" / "examples" / "data"

SCENES = {
    # name: (object colour, object box, prompt)
    "beach": ((200, 30, 40), (150, 120, 230, 200), "smooth sand where the ball was"),
    "meadow": ((240, 200, 20), (60, 140, 140, 220), "tall green grass"),
    "lake": ((120, 60, 160), (250, 110, 330, 190), "calm water reflecting the sky"),
}


def scene(colour: tuple[int, int, int], box: tuple[int, int, int, int]) -> tuple[Image.Image, Image.Image]:
    width, height = 384, 256
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        if y < 130:
            shade = (90 + y // 2, 150 + y // 3, 235)
        else:
            shade = (60 + (y - 130) // 3, 150 - (y - 130) // 4, 70)
        draw.line([(0, y), (width, y)], fill=shade)
    draw.ellipse(box, fill=colour, outline=(30, 30, 30), width=3)
    mask = Image.new("L", (width, height), 0)
    left, top, right, bottom = box
    ImageDraw.Draw(mask).ellipse((left - 8, top - 8, right + 8, bottom + 8), fill=255)
    return image, mask


def bottle_cutout() -> Image.Image:
    """A product cut-out: a bottle on a transparent background (the AI background example's input)."""
    image = Image.new("RGBA", (192, 256), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((56, 90, 136, 236), radius=18, fill=(40, 120, 70, 255), outline=(20, 60, 35, 255))
    draw.rectangle((82, 40, 110, 92), fill=(40, 120, 70, 255))
    draw.rectangle((78, 28, 114, 44), fill=(180, 140, 60, 255))
    draw.rectangle((66, 140, 126, 190), fill=(235, 225, 200, 255))
    return image


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    prompts = {}
    for name, (colour, box, prompt) in SCENES.items():
        image, mask = scene(colour, box)
        image.save(DATA / f"{name}.jpg", quality=90)
        mask.save(DATA / f"{name}_mask.png", optimize=True)
        prompts[name] = prompt
    (DATA / "prompts.json").write_text(json.dumps(prompts, indent=2) + "\n")
    bottle_cutout().save(DATA / "bottle_cutout.png", optimize=True)
    print(f"wrote {len(SCENES)} images and masks, and a cut-out, to {DATA}")


if __name__ == "__main__":
    main()
