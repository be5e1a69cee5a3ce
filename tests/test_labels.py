"""Labels of datasets: the four formats read from tiny files, each bad input one message, and their config keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from test_config import GOOD, error_of

from support import write
from tasks import config
from tasks.errors import StepError
from tasks.model.datasets import Samples
from tasks.model.labels import Box, Labels, Truth, read
from tasks.planning import options


def png(path: Path, size: tuple[int, int] = (8, 6), value: int = 0) -> Path:
    """A gray PNG of ``size`` (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(path)
    return path


def coco_file(path: Path, images: list, annotations: list, categories: list | None = None) -> Path:
    categories = categories or [{"id": 1, "name": "person", "keypoints": ["nose", "eye"]}, {"id": 3, "name": "dog"}]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def failure(labels: Labels, files: list[Path]) -> str:
    with pytest.raises(StepError) as info:
        read(labels, files, "pics")
    return str(info.value)


# --- the formats ------------------------------------------------------------------------------------


def test_folders_label_each_image_by_its_folder(tmp_path):
    cat, dog = png(tmp_path / "cat" / "a.png"), png(tmp_path / "dog" / "b.png", (5, 7))
    truths = read(Labels(format="folders", classes=("dog", "cat")), [cat, dog], "pics")
    assert truths == [Truth(file=cat, width=8, height=6, label=1), Truth(file=dog, width=5, height=7, label=0)]


def test_csv_labels_by_class_name_or_index(tmp_path):
    a, b = png(tmp_path / "img" / "a.png"), png(tmp_path / "img" / "sub" / "b.png", (3, 4))
    write(tmp_path / "img" / "labels.csv", "file,label,note\na.png,dog,x\nsub/b.png,cat,\n")
    named = Labels(format="csv", file=tmp_path / "img" / "labels.csv", classes=("cat", "dog"))
    assert [(t.file, t.label, t.width, t.height) for t in read(named, [b, a], "pics")] == [(b, 0, 3, 4), (a, 1, 8, 6)]
    write(tmp_path / "labels.csv", "label,file\n7,img/a.png\n")  # relative to the CSV's folder; no classes: indices
    assert read(Labels(format="csv", file=tmp_path / "labels.csv"), [a], "pics")[0].label == 7


def test_coco_boxes_keypoints_crowds_and_the_category_map(tmp_path):
    a, b = png(tmp_path / "images" / "a.png", (40, 30)), png(tmp_path / "images" / "b.png")
    images = [{"id": 10, "file_name": "a.png"}, {"id": 11, "file_name": "../images/b.png"}]  # a: by its name
    annotations = [
        {"id": 1, "image_id": 10, "category_id": 1, "bbox": [1, 2, 10, 20], "keypoints": [3, 4, 2, 0, 0, 0]},
        {"id": 2, "image_id": 10, "category_id": 3, "bbox": [0, 0, 40.5, 30], "area": 99, "iscrowd": 1},
    ]  # b has no annotation: an image that shows nothing
    path = coco_file(tmp_path / "annotations" / "instances.json", images, annotations)
    person = Box(label=0, box=(1.0, 2.0, 10.0, 20.0), area=200.0, keypoints=(3.0, 4.0, 2.0, 0.0, 0.0, 0.0))
    dog = Box(label=1, box=(0.0, 0.0, 40.5, 30.0), area=99.0, crowd=True)
    truths = read(Labels(format="coco", file=path), [a, b], "pics")  # every category, in id order
    assert truths == [Truth(file=a, width=40, height=30, boxes=(person, dog)), Truth(file=b, width=8, height=6)]
    only_dogs = read(Labels(format="coco", file=path, categories=((3, 5),)), [a], "pics")
    assert only_dogs[0].boxes == (Box(label=5, box=dog.box, area=99.0, crowd=True),)


def test_masks_are_the_images_stems_in_the_masks_folder(tmp_path):
    image = png(tmp_path / "images" / "a.jpg.png")
    mask = png(tmp_path / "masks" / "a.jpg.png", value=1)
    truths = read(Labels(format="masks", masks_dir=tmp_path / "masks", masks=(mask,)), [image], "pics")
    assert truths == [Truth(file=image, width=8, height=6, mask=mask)]


# --- bad label input: one message each, naming the file, the entry and the fix ------------------------


def test_a_label_file_that_does_not_parse(tmp_path):
    image = png(tmp_path / "a.png")
    broken = write(tmp_path / "instances.json", '{"images": [\n  {"id": 1,}\n]}')
    assert failure(Labels(format="coco", file=broken), [image]) == (
        f"datasets.pics.labels: {broken}:2:12: not valid JSON (Expecting property name enclosed in double quotes); "
        "fix the file (COCO JSON: images, annotations, categories)"
    )
    columns = write(tmp_path / "labels.csv", "file,class\na.png,cat\n")
    assert failure(Labels(format="csv", file=columns), [image]) == (
        f"datasets.pics.labels: {columns}:1: the header (file, class) has no column label; the first row names the "
        "columns, among them file and label"
    )


def test_an_entry_naming_an_image_that_does_not_exist(tmp_path):
    image = png(tmp_path / "img" / "a.png")
    images = [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "gone.png"}, {"id": 3, "file_name": "x.png"}]
    path = coco_file(tmp_path / "instances.json", images, [])
    assert failure(Labels(format="coco", file=path), [image]) == (
        f"datasets.pics.labels: {path}: images[1] (id 2, file_name 'gone.png'): the image does not exist (looked "
        f"in {tmp_path}, {tmp_path / 'img'}) (1 more images are missing); add the image, fix file_name, or remove "
        "the entry"
    )
    rows = write(tmp_path / "labels.csv", "file,label\nimg/a.png,0\nimg/gone.png,1\n")
    assert failure(Labels(format="csv", file=rows), [image]) == (
        f"datasets.pics.labels: {rows}:3: file 'img/gone.png': the image does not exist (looked for "
        f"{tmp_path / 'img' / 'gone.png'}); fix the path (relative to the CSV's folder) or remove the row"
    )


def test_an_image_with_no_label(tmp_path):
    a, b = png(tmp_path / "a.png"), png(tmp_path / "b.png")
    path = coco_file(tmp_path / "instances.json", [{"id": 1, "file_name": "a.png"}], [])
    assert failure(Labels(format="coco", file=path), [a, b]) == (
        f"datasets.pics.labels: {path}: image {b} is not in images; add it (with no annotations when it shows "
        "nothing), or leave it out of the dataset"
    )
    rows = write(tmp_path / "labels.csv", "file,label\na.png,0\n")
    assert failure(Labels(format="csv", file=rows), [a, b]) == (
        f"datasets.pics.labels: {rows}: no row for image {b}; add a row 'b.png,LABEL', or leave the image out of "
        "the dataset"
    )
    png(tmp_path / "masks" / "a.png")
    assert failure(Labels(format="masks", masks_dir=tmp_path / "masks"), [a, b]) == (
        f"datasets.pics.labels: {tmp_path / 'masks' / 'b.png'}: image {b} has no mask; add b.png to "
        f"{tmp_path / 'masks'}"
    )


def test_an_unknown_class(tmp_path):
    bird = png(tmp_path / "bird" / "a.png")
    assert failure(Labels(format="folders", classes=("cat", "dog")), [bird]) == (
        f"datasets.pics.labels: {bird}: its folder 'bird' is not one of classes (cat, dog); add 'bird' to classes, "
        "or move the image into the folder of its class"
    )
    rows = write(tmp_path / "labels.csv", "file,label\nbird/a.png,dgo\n")
    assert failure(Labels(format="csv", file=rows, classes=("cat", "dog")), [bird]) == (
        f"datasets.pics.labels: {rows}:2: label 'dgo' is not one of classes (cat, dog); fix the label or add it "
        "to classes"
    )
    assert failure(Labels(format="csv", file=rows), [bird]) == (
        f"datasets.pics.labels: {rows}:2: label 'dgo' is not a class index (an integer, 0 or more); give the "
        "dataset's labels classes: [NAME, ...] to label by name"
    )
    annotation = {"id": 7, "image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1]}
    path = coco_file(tmp_path / "instances.json", [{"id": 1, "file_name": "bird/a.png"}], [annotation])
    assert failure(Labels(format="coco", file=path), [bird]) == (
        f"datasets.pics.labels: {path}: annotations[0] (id 7): category_id 2 is not an id of the file's categories "
        "(1, 3); fix it, or add the category to categories"
    )
    assert failure(Labels(format="coco", file=path, categories=((4, 0),)), [bird]) == (
        f"datasets.pics.labels.categories: {path}: category 4 is not an id of the file's categories (1, 3); map ids "
        "the file defines"
    )


def test_a_box_outside_its_image(tmp_path):
    image = png(tmp_path / "a.png", (40, 30))
    inside = {"id": 1, "image_id": 1, "category_id": 3, "bbox": [-0.9, 0, 40.8, 30.9]}  # a pixel of rounding
    outside = {"id": 2, "image_id": 1, "category_id": 3, "bbox": [30, 10, 12, 5]}
    path = coco_file(tmp_path / "instances.json", [{"id": 1, "file_name": "a.png"}], [inside, outside])
    assert failure(Labels(format="coco", file=path), [image]) == (
        f"datasets.pics.labels: {path}: annotations[1] (id 2, image {image}): bbox [30, 10, 12, 5] (x, y, width, "
        "height) reaches outside the image's 40x30 pixels; fix the box (in pixels of the image as stored)"
    )


def test_the_wrong_number_of_keypoints(tmp_path):
    image = png(tmp_path / "a.png")
    three = {"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "keypoints": [1, 1, 2]}
    path = coco_file(tmp_path / "instances.json", [{"id": 1, "file_name": "a.png"}], [three])
    assert failure(Labels(format="coco", file=path), [image]) == (
        f"datasets.pics.labels: {path}: annotations[0] (id 5, image {image}): 3 keypoint values; category 1 takes "
        "3 x 2 = 6 (x, y, v per point); fix the keypoints, or the category's keypoints names"
    )
    ragged = {**three, "category_id": 3, "keypoints": [1, 1]}
    path = coco_file(tmp_path / "instances.json", [{"id": 1, "file_name": "a.png"}], [ragged])
    assert "2 keypoint values; category 3 takes a multiple of 3 (x, y, v per point)" in failure(
        Labels(format="coco", file=path), [image]
    )


def test_a_mask_of_another_size_than_its_image(tmp_path):
    image, mask = png(tmp_path / "a.png", (8, 6)), png(tmp_path / "masks" / "a.png", (6, 8))
    assert failure(Labels(format="masks", masks_dir=tmp_path / "masks"), [image]) == (
        f"datasets.pics.labels: {mask}: the mask is 6x8 pixels, its image {image} 8x6; give the mask its image's size"
    )


def test_an_image_listed_twice(tmp_path):
    image = png(tmp_path / "a.png")
    rows = write(tmp_path / "labels.csv", "file,label\na.png,0\n./a.png,1\n")
    assert failure(Labels(format="csv", file=rows), [image]) == (
        f"datasets.pics.labels: {rows}:3: {image} is listed twice (first on line 2); keep one row"
    )


# --- project.yaml ------------------------------------------------------------------------------------


@pytest.fixture
def labelled(tmp_path: Path):
    """A project whose dataset pics has ``labels`` (a YAML flow mapping); images in data/cat and data/dog."""
    for i in range(6):
        png(tmp_path / "data" / ("cat" if i % 2 else "dog") / f"p{i}.png", (8 + i, 6))
    (tmp_path / "net.tflite").write_bytes(b"")

    def make(labels: str, dataset: str = 'images: "data/*/*.png"') -> Path:
        text = GOOD.replace('pics: {images: "data/*.png"}', f"pics: {{{dataset}, labels: {labels}}}")
        return write(tmp_path / "project.yaml", text)

    return make


def test_labels_load_into_the_dataset_and_its_steps(labelled, tmp_path):
    write(tmp_path / "labels.csv", "file,label\n")
    (tmp_path / "masks").mkdir()
    project = config.load(labelled("{format: folders}", 'images: "data/*/*.png", limit: 1'))
    assert project.datasets["pics"].labels == Labels(format="folders", classes=("cat", "dog"))  # all, before limit
    project = config.load(labelled("{format: csv, file: labels.csv, classes: [a, b]}"))
    assert project.datasets["pics"].labels == Labels(format="csv", file=tmp_path / "labels.csv", classes=("a", "b"))
    project = config.load(labelled("{format: coco, file: labels.csv, categories: {3: 1, 1: 0}}"))
    assert project.datasets["pics"].labels.categories == ((1, 0), (3, 1))
    png(tmp_path / "masks" / "p0.png")
    from tasks.engine import plan

    planning = plan.planning(config.load(labelled("{format: masks, masks: masks}")))
    samples = planning.samples("pics", planning.project.models["net"], "validation", labelled=True)
    assert samples.labels == Labels(format="masks", masks_dir=tmp_path / "masks", masks=(tmp_path / "masks/p0.png",))
    assert options.files(samples, "in")[-1] == tmp_path / "masks/p0.png"  # a mask is an input of the step
    assert options.from_json(Samples, options.to_json(samples)) == samples  # as a worker gets them


def test_a_split_dataset_keeps_each_files_labels(labelled):
    from tasks.engine import plan

    text = labelled("{format: folders}", 'images: "data/*/*.png", split: {calibration: 0.5, validation: 0.5}')
    planning = plan.planning(config.load(text))
    model = planning.project.models["net"]
    labels = planning.project.datasets["pics"].labels
    assert planning.samples("pics", model, "validation").labels is None  # a step that reads none does not get them
    assert planning.samples("pics", model, "validation", labelled=True).labels == labels
    for part in ("calibration", "validation"):
        samples = planning.samples("pics", model, part)
        truths = read(labels, samples.files, samples.name)
        assert [t.file for t in truths] == list(samples.files) and len(truths) == 3
        assert [t.label for t in truths] == [("cat", "dog").index(f.parent.name) for f in samples.files]
        assert [t.width for t in truths] == [8 + int(f.stem[1:]) for f in samples.files]


def test_labels_config_errors_name_the_yaml_path(labelled):
    assert error_of(labelled("{format: csv}")) == (
        "project.yaml:4: datasets.pics.labels: format csv needs file: FILE (the label file), relative to project.yaml"
    )
    assert error_of(labelled("{format: coco, file: gone.json}")) == (
        "project.yaml:4: datasets.pics.labels.file: label file 'gone.json' does not exist (looked for gone.json)"
    )
    assert error_of(labelled("{format: masks}")) == (
        "project.yaml:4: datasets.pics.labels: format masks needs masks: FOLDER (of the masks), relative to "
        "project.yaml"
    )
    assert error_of(labelled("{format: masks, masks: nowhere}")) == (
        "project.yaml:4: datasets.pics.labels.masks: masks folder 'nowhere' does not exist (looked for nowhere)"
    )
    assert error_of(labelled("{format: masks, masks: net.tflite}")) == (
        "project.yaml:4: datasets.pics.labels.masks: 'net.tflite' is a file; name the folder of the masks"
    )
    assert error_of(labelled("{format: folders, classes: [cat, dog, cat], categories: {1: 0}}")) == (
        "project.yaml:4: datasets.pics.labels.categories: format folders takes no categories (it takes classes); "
        "remove it\n"
        "project.yaml:4: datasets.pics.labels.classes: cat named twice; give each class once"
    )
    assert error_of(labelled("{format: folders}", "random: {count: 2}")) == (
        "project.yaml:4: datasets.pics.labels: labels are for image datasets; this one has random data; remove "
        "labels or give images"
    )
    assert error_of(labelled("{format: voc}")) == (
        "project.yaml:4: datasets.pics.labels.format: 'voc' is not one of folders, csv, coco, masks"
    )
    assert error_of(labelled("{format: coco, file: net.tflite, categories: {person: 0}}")) == (
        "project.yaml:4: datasets.pics.labels.categories: 'person' is not valid: expected a COCO category id (an "
        "integer)"
    )


def test_a_coco_path_to_another_folder_is_not_matched_by_name(tmp_path):
    """train/a.png in the JSON is not the dataset's val/a.png: val/a.png has no label (not train's boxes)."""
    png(tmp_path / "train" / "a.png")
    val = png(tmp_path / "val" / "a.png")
    box = {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2]}
    listed = [{"id": 1, "file_name": "train/a.png"}]
    labels = Labels(format="coco", file=coco_file(tmp_path / "instances.json", listed, [box]))
    message = failure(labels, [val])
    assert str(val) in message and "instances.json" in message
