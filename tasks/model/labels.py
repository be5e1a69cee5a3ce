"""Ground truth: the labels of a dataset's files, read from the formats users already have.

``datasets.NAME.labels`` in project.yaml names the format:

- ``folders``: one folder per class, as ``keras.utils.image_dataset_from_directory``
  reads it: an image's class is the name of the folder holding it; class
  indices follow ``classes`` (default: the folder names in sorted order);
- ``csv``: a file with a header row and the columns ``file`` (relative to
  the CSV's folder) and ``label`` (a class name of ``classes``, or the index);
- ``coco``: COCO JSON (``images``, ``annotations``, ``categories``): boxes
  and keypoints; ``categories`` maps COCO category ids to the model's class
  indices (default: the file's categories in id order);
- ``masks``: one mask image per image, of the same size and stem, in the
  folder ``masks``; a pixel's value is its class index.

``Labels`` is what a step gets (a field of ``datasets.Samples``); ``read``
returns every file's ``Truth``.  Bad label input is one ``StepError`` naming
the label file, the entry and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from tasks.errors import StepError
from tasks.planning.options import input_file


@dataclass(frozen=True)
class Format:
    """A format of ``datasets.NAME.labels``: the keys it takes beside ``format``, and those it needs."""

    name: str
    doc: str
    keys: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


FORMAT_ROWS = (
    Format(
        "folders",
        "one folder per class: an image's class is the name of the folder holding it",
        keys=("classes",),
    ),
    Format(
        "csv",
        "a CSV file with a header row and the columns file (relative to the CSV's folder) and label",
        keys=("file", "classes"),
        needs=("file",),
    ),
    Format(
        "coco",
        "a COCO JSON file (images, annotations, categories): boxes, keypoints and crowd flags",
        keys=("file", "categories"),
        needs=("file",),
    ),
    Format(
        "masks",
        "one PNG mask per image, MASKS/<image stem>.png, of the image's size; a pixel's value is its class index",
        keys=("masks",),
        needs=("masks",),
    ),
)
BY_FORMAT = {f.name: f for f in FORMAT_ROWS}
FORMATS = tuple(BY_FORMAT)


@dataclass(frozen=True, kw_only=True)
class Labels:
    """``datasets.NAME.labels`` as a step reads it (a field of datasets.Samples)."""

    format: str  # folders | csv | coco | masks
    file: Path | None = input_file(None)  # csv, coco: the label file
    masks: tuple[Path, ...] = input_file(())  # masks: the masks of the files read (planning fills them)
    masks_dir: Path | None = None  # masks: the folder
    classes: tuple[str, ...] = ()  # folders, csv: class names in index order (folders: planning fills the default)
    categories: tuple[tuple[int, int], ...] = ()  # coco: (category id, class index); empty: every category, id order


@dataclass(frozen=True, kw_only=True)
class Box:
    """One COCO annotation, in pixels of the original image."""

    label: int  # the model's class index
    box: tuple[float, float, float, float]  # x, y, width, height (COCO's bbox)
    area: float  # COCO's area (default: width x height)
    keypoints: tuple[float, ...] = ()  # x, y, v triples (COCO's keypoints), v 0: not labelled
    crowd: bool = False  # COCO's iscrowd: matched without counting as a miss


@dataclass(frozen=True, kw_only=True)
class Truth:
    """One image's labels."""

    file: Path
    width: int  # the image's size in pixels (as decoded)
    height: int
    label: int | None = None  # folders, csv: the class index
    boxes: tuple[Box, ...] = ()  # coco
    mask: Path | None = None  # masks: the mask image
    format: str = field(default="", compare=False)  # the format it was read from (labels.format)


def folder_classes(files: Sequence[Path]) -> tuple[str, ...]:
    """The classes of a ``folders`` dataset when ``classes`` is not given: its folder names, sorted."""
    return tuple(sorted({Path(f).parent.name for f in files}))


def mask_of(masks_dir: Path, image: Path) -> Path:
    """The mask of ``image`` in a ``masks`` dataset's folder."""
    return masks_dir / f"{image.stem}.png"


def read(labels: Labels, files: Sequence[Path], dataset: str) -> list[Truth]:
    """Every file's Truth, in the order of ``files``; a StepError for the first bad label found."""
    readers = {"folders": _folders, "csv": _csv, "coco": _coco, "masks": _masks}
    truths = readers[labels.format](labels, [Path(f) for f in files], f"datasets.{dataset}.labels")
    return [replace(t, format=labels.format) for t in truths]


def _size(image: Path, where: str) -> tuple[int, int]:
    """(width, height) of ``image`` as decoded."""
    from PIL import Image

    try:
        with Image.open(image) as opened:
            return opened.size
    except OSError as exc:
        raise StepError(f"{where}: cannot read image {image} ({exc}); fix or remove the file") from None


def _text(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise StepError(f"{where}: cannot read the label file {path} ({exc}); fix file: in project.yaml") from None


def _truth(image: Path, where: str, **labels: Any) -> Truth:
    width, height = _size(image, where)
    return Truth(file=image, width=width, height=height, **labels)


# --- folders, csv: one class per image ----------------------------------------------------------------


def _folders(labels: Labels, files: list[Path], where: str) -> list[Truth]:
    index = {name: i for i, name in enumerate(labels.classes)}
    for f in files:
        if f.parent.name not in index:
            raise StepError(
                f"{where}: {f}: its folder '{f.parent.name}' is not one of classes ({', '.join(labels.classes)}); "
                f"add '{f.parent.name}' to classes, or move the image into the folder of its class"
            )
    return [_truth(f, where, label=index[f.parent.name]) for f in files]


def _csv(labels: Labels, files: list[Path], where: str) -> list[Truth]:
    path = labels.file
    rows = _csv_rows(path, where)
    truths = []
    for f in files:
        if f.resolve() not in rows:
            raise StepError(
                f"{where}: {path}: no row for image {f}; add a row '{_relative(f, path.parent)},LABEL', "
                "or leave the image out of the dataset"
            )
        line, label = rows[f.resolve()]
        truths.append(_truth(f, where, label=_class_index(label, labels.classes, f"{where}: {path}:{line}")))
    return truths


def _csv_rows(path: Path, where: str) -> dict[Path, tuple[int, str]]:
    """Each row's image (resolved) → (line, label as written); the rows' images must exist."""
    import csv
    import io

    rows: dict[Path, tuple[int, str]] = {}
    reader = csv.DictReader(io.StringIO(_text(path, where), newline=""))
    try:
        _csv_header(reader.fieldnames, path, where)
        for row in reader:
            at = f"{where}: {path}:{reader.line_num}"
            image, label = _csv_row(row, path.parent, at)
            if image in rows:
                raise StepError(f"{at}: {image} is listed twice (first on line {rows[image][0]}); keep one row")
            rows[image] = reader.line_num, label
    except csv.Error as exc:
        raise StepError(f"{where}: {path}:{reader.line_num}: not valid CSV ({exc}); fix that line") from None
    return rows


def _csv_header(columns: Sequence[str] | None, path: Path, where: str) -> None:
    missing = [c for c in ("file", "label") if c not in (columns or ())]
    if missing:
        raise StepError(
            f"{where}: {path}:1: the header ({', '.join(columns or ()) or 'empty'}) has no column "
            f"{' and no column '.join(missing)}; the first row names the columns, among them file and label"
        )


def _csv_row(row: dict[str, str | None], folder: Path, at: str) -> tuple[Path, str]:
    name, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
    if not name or not label:
        raise StepError(f"{at}: the row gives no {'file' if not name else 'label'}; give both, file and label")
    image = folder / name
    if not image.is_file():
        raise StepError(
            f"{at}: file '{name}': the image does not exist (looked for {image}); fix the path (relative to the "
            "CSV's folder) or remove the row"
        )
    return image.resolve(), label


def _class_index(label: str, classes: tuple[str, ...], at: str) -> int:
    """A CSV label as a class index: a name of ``classes``, or the index itself when there are none."""
    if classes:
        if label not in classes:
            raise StepError(
                f"{at}: label '{label}' is not one of classes ({', '.join(classes)}); fix the label or add it to "
                "classes"
            )
        return classes.index(label)
    if not label.isdigit():
        raise StepError(
            f"{at}: label '{label}' is not a class index (an integer, 0 or more); give the dataset's labels "
            "classes: [NAME, ...] to label by name"
        )
    return int(label)


def _relative(path: Path, folder: Path) -> str:
    import os

    return Path(os.path.relpath(path, folder)).as_posix()


# --- masks: one mask image per image ------------------------------------------------------------------


def _masks(labels: Labels, files: list[Path], where: str) -> list[Truth]:
    truths = []
    for f in files:
        mask = mask_of(labels.masks_dir, f)
        if not mask.is_file():
            raise StepError(f"{where}: {mask}: image {f} has no mask; add {mask.name} to {labels.masks_dir}")
        truth = _truth(f, where, mask=mask)
        width, height = _size(mask, where)
        if (width, height) != (truth.width, truth.height):
            raise StepError(
                f"{where}: {mask}: the mask is {width}x{height} pixels, its image {f} {truth.width}x{truth.height}; "
                "give the mask its image's size"
            )
        truths.append(truth)
    return truths


# --- coco: boxes and keypoints --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Coco:
    """A COCO file's lists, checked for the fields the reader uses."""

    path: Path
    images: list[dict[str, Any]]
    annotations: list[dict[str, Any]]
    categories: dict[int, dict[str, Any]]  # by id


def _coco(labels: Labels, files: list[Path], where: str) -> list[Truth]:
    coco = _coco_file(labels.file, where)
    classes = _coco_classes(labels, coco, where)
    matched = _match_images(coco, files, where)
    by_image = _by_image(coco, where)
    truths = []
    for f in files:
        if f not in matched:
            raise StepError(
                f"{where}: {coco.path}: image {f} is not in images; add it (with no annotations when it shows "
                "nothing), or leave it out of the dataset"
            )
        width, height = _size(f, where)
        found = [(i, a) for i, a in by_image.get(matched[f]["id"], []) if a["category_id"] in classes]
        at = f"{where}: {coco.path}: annotations"
        boxes = (_box(a, f"{at}[{i}] (id {a.get('id')}, image {f})", classes, coco, (width, height)) for i, a in found)
        truths.append(Truth(file=f, width=width, height=height, boxes=tuple(boxes)))
    return truths


def _by_image(coco: _Coco, where: str) -> dict[Any, list[tuple[int, dict[str, Any]]]]:
    """Image id → its annotations (with their index in the file); each names an image and a category of the file."""
    ids = {image["id"] for image in coco.images}
    by_image: dict[Any, list[tuple[int, dict[str, Any]]]] = {}
    for i, a in enumerate(coco.annotations):
        at = f"{where}: {coco.path}: annotations[{i}] (id {a.get('id')})"
        if a["image_id"] not in ids:
            raise StepError(f"{at}: image_id {a['image_id']} is not an id of images; fix it or remove the annotation")
        if a["category_id"] not in coco.categories:
            known = ", ".join(str(c) for c in sorted(coco.categories)) or "none"
            raise StepError(
                f"{at}: category_id {a['category_id']} is not an id of the file's categories ({known}); fix it, or "
                "add the category to categories"
            )
        by_image.setdefault(a["image_id"], []).append((i, a))
    return by_image


def _coco_file(path: Path, where: str) -> _Coco:
    try:
        data = json.loads(_text(path, where))
    except json.JSONDecodeError as exc:
        raise StepError(
            f"{where}: {path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); fix the file (COCO JSON: "
            "images, annotations, categories)"
        ) from None
    at = f"{where}: {path}"
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise StepError(f"{at}: no list 'images'; a COCO file is an object with images, annotations and categories")
    lists = {key: data.get(key) or [] for key in ("images", "annotations", "categories")}
    fields = {"images": ("id", "file_name"), "annotations": ("image_id", "category_id", "bbox"), "categories": ("id",)}
    for key, needed in fields.items():
        for i, entry in enumerate(lists[key]):
            missing = [n for n in needed if not isinstance(entry, dict) or n not in entry]
            if missing:
                raise StepError(f"{at}: {key}[{i}]: no {', '.join(missing)}; every entry of {key} gives {needed}")
    return _Coco(path, lists["images"], lists["annotations"], {c["id"]: c for c in lists["categories"]})


def _coco_classes(labels: Labels, coco: _Coco, where: str) -> dict[int, int]:
    """COCO category id → the model's class index: the map given, else the file's categories in id order."""
    if not labels.categories:
        return {c: i for i, c in enumerate(sorted(coco.categories))}
    for category, _ in labels.categories:
        if category not in coco.categories:
            known = ", ".join(str(c) for c in sorted(coco.categories)) or "none"
            raise StepError(
                f"{where}.categories: {coco.path}: category {category} is not an id of the file's categories "
                f"({known}); map ids the file defines"
            )
    return dict(labels.categories)


def _match_images(coco: _Coco, files: list[Path], where: str) -> dict[Path, dict[str, Any]]:
    """The dataset's files → their entries of images: by path relative to the JSON's folder, else by unique name.

    An entry that matches no file of the dataset is fine while its image exists (in the JSON's folder or one of
    the dataset's folders): another part of the dataset, or one it leaves out, has it.
    """
    by_path = {f.resolve(): f for f in files}
    by_name: dict[str, list[Path]] = {}
    for f in files:
        by_name.setdefault(f.name, []).append(f)
    folders = [coco.path.parent, *dict.fromkeys(f.parent for f in files)]
    matched: dict[Path, dict[str, Any]] = {}
    absent: list[str] = []
    for i, image in enumerate(coco.images):
        at = f"{where}: {coco.path}: images[{i}] (id {image['id']}, file_name '{image['file_name']}')"
        name = PurePosixPath(str(image["file_name"]))
        same = by_name.get(name.name, [])
        by_json = (coco.path.parent / name).resolve()
        # by name only where file_name names no other file: "val/a.jpg" is not the dataset's "train/a.jpg"
        named = len(same) == 1 and (len(name.parts) == 1 or not by_json.is_file())
        found = by_path.get(by_json) or (same[0] if named else None)
        if len(same) > 1 and found is None:
            raise StepError(
                f"{at}: {len(same)} images of the dataset have that name ({', '.join(map(str, same))}); give its "
                "path relative to the JSON's folder"
            )
        if found in matched:
            raise StepError(f"{at}: {found} is listed twice (first as id {matched[found]['id']}); keep one entry")
        if found is not None:
            matched[found] = image
        elif not any((d / name).is_file() or (d / name.name).is_file() for d in folders):
            absent.append(at)
    if absent:
        more = f" ({len(absent) - 1} more images are missing)" if len(absent) > 1 else ""
        raise StepError(
            f"{absent[0]}: the image does not exist (looked in {', '.join(map(str, folders))}){more}; add the "
            "image, fix file_name, or remove the entry"
        )
    return matched


def _box(a: dict[str, Any], at: str, classes: dict[int, int], coco: _Coco, size: tuple[int, int]) -> Box:
    """One annotation as a Box: its bbox within the image (1 pixel of rounding allowed), its keypoints complete."""
    width, height = size
    bbox = a["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, int | float) for v in bbox):
        raise StepError(f"{at}: bbox {bbox} is not [x, y, width, height]; give four numbers, in pixels")
    x, y, w, h = (float(v) for v in bbox)
    if w < 0 or h < 0 or x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1:
        raise StepError(
            f"{at}: bbox {bbox} (x, y, width, height) reaches outside the image's {width}x{height} "
            "pixels; fix the box (in pixels of the image as stored)"
        )
    points = a.get("keypoints") or []
    names = coco.categories[a["category_id"]].get("keypoints") or []
    if len(points) % 3 or (names and points and len(points) != 3 * len(names)):
        wanted = f"3 x {len(names)} = {3 * len(names)}" if names else "a multiple of 3"
        raise StepError(
            f"{at}: {len(points)} keypoint values; category {a['category_id']} takes {wanted} (x, y, v per point); "
            "fix the keypoints, or the category's keypoints names"
        )
    return Box(
        label=classes[a["category_id"]],
        box=(x, y, w, h),
        area=float(a["area"]) if a.get("area") is not None else w * h,
        keypoints=tuple(float(v) for v in points),
        crowd=bool(a.get("iscrowd", 0)),
    )
