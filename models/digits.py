"""A digit classifier for the example project, trained on real labelled images, so its accuracy means something.

The data are scikit-learn's digits (``sklearn.datasets.load_digits``: 1797
8x8 grey images of handwritten digits, values 0..16, ten classes), which ship
inside the scikit-learn wheel.  The split is fixed by index: the first
TRAINING (1347) images train the model, the last 450 are held out.
``write_held_out`` writes the held-out ones as 32x32 PNG files
``DEST/<class>/<index>.png`` for the example's ``digits`` dataset (``make``
does), and ``build`` trains on the others; both go through ``upscaled``, so
the model is trained on exactly the pixels it is evaluated on.

``build`` returns the trained Keras model: input [N, 32, 32, 1], the image's
pixels / 255 (float in [0, 1]; the import step fixes N to 1), output the
ten class probabilities (softmax).  Its weights are ``digits.weights.npy``,
which ``train`` wrote: training gives other weights on another kind of CPU,
loading them gives the same model everywhere.

    python models/digits.py DEST       # the held-out images as PNG files
    python models/digits.py --train    # train again: digits.weights.npy
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

TRAINING = 1347  # images 0..1346 train; 1347..1796 (450) are held out
SIZE = 32  # the 8x8 images, upscaled 4x (nearest neighbour)


def digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 images as uint8 [N, SIZE, SIZE] (``upscaled``), and their classes."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return upscaled(data.images), data.target.astype(np.int64)


def upscaled(images: np.ndarray) -> np.ndarray:
    """8x8 images of values 0..16 → uint8 SIZExSIZE: value x 255/16 rounded (half up), each pixel repeated."""
    values = (images.astype(np.int64) * 255 + 8) // 16
    factor = SIZE // images.shape[-1]
    return values.repeat(factor, axis=-2).repeat(factor, axis=-1).astype(np.uint8)


def png(image: np.ndarray) -> bytes:
    """One uint8 image as a greyscale PNG; the same pixels give the same bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=False)  # uint8 [H, W]: mode L
    return buffer.getvalue()


def write_held_out(dest: Path) -> list[Path]:
    """The held-out images as ``dest/<class>/<index>.png``; PNG files of other names there are removed."""
    images, classes = digits()
    written = []
    for index in range(TRAINING, len(images)):
        target = dest / str(classes[index]) / f"{index}.png"
        content = png(images[index])
        if not target.exists() or target.read_bytes() != content:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            partial.write_bytes(content)
            partial.replace(target)
        written.append(target)
    for stale in set(dest.glob("*/*.png")) - set(written):
        stale.unlink()
    return written


def network(seed: int = 0) -> keras.Model:
    """The small CNN, untrained: three convolutions, each pooled, and a dense softmax."""
    import keras

    layers = keras.layers
    inputs = keras.Input(shape=(SIZE, SIZE, 1), name="image")
    h = layers.Conv2D(16, 5, padding="same", activation="relu", name="conv1")(inputs)
    h = layers.MaxPooling2D(2, name="pool1")(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = layers.MaxPooling2D(2, name="pool2")(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(h)
    h = layers.MaxPooling2D(2, name="pool3")(h)
    h = layers.Dropout(0.3, seed=seed, name="dropout")(layers.Flatten(name="flatten")(h))
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(h)
    return keras.Model(inputs, outputs, name="digits")


def train(epochs: int = 15, seed: int = 0) -> keras.Model:
    """The CNN trained on the first TRAINING digits.

    The images are held out by index, not at random, and differ more from the
    training ones than a random part would: a plain two-convolution network fits
    the training images and gets about 93 % of the held-out ones.  A third
    convolution, dropout and training on images shifted by up to 10 % get about
    97 %.  The shifts are applied by a training-only wrapper, so the returned
    model has none of them.

    Seeds and TensorFlow's deterministic ops give the same weights every time on
    the same machine, but not on every machine: the float sums depend on the
    CPU's vector units and on the number of threads.  So the example does not
    train in its build; ``build`` loads the weights this wrote.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    images, classes = digits()
    x = images[:TRAINING, :, :, None].astype(np.float32) / 255.0
    model = network(seed)
    shift = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed, name="shift")
    training = keras.Sequential([keras.Input(shape=(SIZE, SIZE, 1)), shift, model], name="digits_training")
    training.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    training.fit(x, classes[:TRAINING], batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    return model


def save_weights(model: keras.Model, path: Path) -> None:
    """The model's weights as one float32 .npy, in Keras' order (the same weights give the same bytes)."""
    flat = np.concatenate([np.asarray(w, dtype=np.float32).ravel() for w in model.get_weights()])
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as f:
        np.save(f, flat)
    partial.replace(path)


def build(weights: str = "digits.weights.npy") -> keras.Model:
    """The trained CNN: ``network`` with the weights ``train`` made, read from ``weights`` (beside this file).

    project.yaml lists that file under the source's ``files``, so new weights re-run the import.
    """
    model = network()
    flat = np.load(Path(__file__).with_name(weights))
    shapes = [tuple(w.shape) for w in model.get_weights()]
    sizes = [int(np.prod(shape)) for shape in shapes]
    if flat.dtype != np.float32 or flat.shape != (sum(sizes),):
        raise ValueError(
            f"{weights}: {flat.dtype}{list(flat.shape)} is not the {sum(sizes)} float32 weights of this network; "
            "write it again with `python models/digits.py --train`"
        )
    parts = np.split(flat, np.cumsum(sizes)[:-1])
    model.set_weights([part.reshape(shape) for part, shape in zip(parts, shapes, strict=True)])
    return model


if __name__ == "__main__":
    if sys.argv[1:2] == ["--train"]:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # TensorFlow's own kernels, as the build's workers run
        target = Path(__file__).with_name("digits.weights.npy")
        save_weights(train(), target)
        print(f"trained on {TRAINING} digits: {target}")
    else:
        dest = Path(sys.argv[1] if len(sys.argv) > 1 else "data/digits")
        print(f"{len(write_held_out(dest))} held-out digits in {dest}")
