"""Example photographs for the example project, from the installed scikit-image.

scikit-image ships real photographs (two of them of people); ``copy_photos``
copies six of them as they are.  Six photographs are too few to calibrate on
and to hold samples out of, so ``augment`` makes 16 honest variants of each
of seven: the whole picture, four corner crops and two centre crops, and the
picture shrunk onto a grey canvas (a smaller subject), each also mirrored.
Deterministic: the same scikit-image gives the same files.

    python -m tasks.model.example_data DEST [AUGMENTED_DEST]
"""

from __future__ import annotations

import sys
from pathlib import Path

from tasks import atomic

PHOTOS = ("astronaut.png", "camera.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "motorcycle_right.png")
AUGMENTED = (*PHOTOS, "rocket.jpg")
LONGER_SIDE = 320  # the example models take 256 px at most
# (name, box as fractions of the picture: left, top, right, bottom); "shrunk" is the picture at 60 % on a canvas
VIEWS = (
    ("full", (0.0, 0.0, 1.0, 1.0)),
    ("tl", (0.0, 0.0, 0.75, 0.75)),
    ("tr", (0.25, 0.0, 1.0, 0.75)),
    ("bl", (0.0, 0.25, 0.75, 1.0)),
    ("br", (0.25, 0.25, 1.0, 1.0)),
    ("c80", (0.1, 0.1, 0.9, 0.9)),
    ("c60", (0.2, 0.2, 0.8, 0.8)),
    ("shrunk", None),
)


def _source() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def copy_photos(dest: Path) -> list[Path]:
    source = _source()
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in PHOTOS:
        target = dest / name
        if not target.exists():
            atomic.copy_file(source / name, target)
        out.append(target)
    return out


def _view(im, box):
    from PIL import Image

    w, h = im.size
    if box is None:
        canvas = Image.new("RGB", (w, h), (128, 128, 128))
        small = im.resize((round(w * 0.6), round(h * 0.6)), Image.Resampling.BILINEAR)
        canvas.paste(small, ((w - small.width) // 2, (h - small.height) // 2))
        return canvas
    left, top, right, bottom = box
    return im.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))


def augment(dest: Path) -> list[Path]:
    """16 views of each of AUGMENTED in ``dest``, as PNG, the longer side at most LONGER_SIDE."""
    import io

    from PIL import Image, ImageOps

    source = _source()
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in AUGMENTED:
        with Image.open(source / name) as opened:
            im = opened.convert("RGB")
        im.thumbnail((LONGER_SIDE, LONGER_SIDE), Image.Resampling.LANCZOS)
        for mirrored in (False, True):
            base = ImageOps.mirror(im) if mirrored else im
            for view, box in VIEWS:
                target = dest / f"{Path(name).stem}_{view}{'_mirrored' if mirrored else ''}.png"
                if not target.exists():
                    buffer = io.BytesIO()
                    _view(base, box).save(buffer, format="PNG", optimize=False)
                    atomic.write_bytes(target, buffer.getvalue())
                out.append(target)
    return out


if __name__ == "__main__":
    for path in copy_photos(Path(sys.argv[1] if len(sys.argv) > 1 else "data/photos")):
        print(path)
    if len(sys.argv) > 2:
        print(f"{len(augment(Path(sys.argv[2])))} augmented photos in {sys.argv[2]}")
