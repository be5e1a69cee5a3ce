"""Example photographs for the example project, from the installed scikit-image.

scikit-image ships real photographs (two of them of people); the example
project calibrates on them.  ``python -m tasks.example_data DEST`` copies them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tasks import atomic

PHOTOS = ("astronaut.png", "camera.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "motorcycle_right.png")


def copy_photos(dest: Path) -> list[Path]:
    import skimage

    source = Path(skimage.__file__).parent / "data"
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in PHOTOS:
        target = dest / name
        if not target.exists():
            atomic.copy_file(source / name, target)
        out.append(target)
    return out


if __name__ == "__main__":
    for path in copy_photos(Path(sys.argv[1] if len(sys.argv) > 1 else "data/photos")):
        print(path)
