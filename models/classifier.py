"""A small image classifier for the example project: four 3x3 convolutions and a dense head.

``channels`` sets the third convolution's width: 90 is not a multiple of the
Ethos-U65-256's channel block, 96 is, so the pair shows what padding costs.
Weights are untrained (seeded by the import step); the model exists to be
compiled and measured, not to classify.
"""

import keras


def build(channels: int = 96, classes: int = 10, size: int = 284) -> keras.Model:
    inputs = keras.Input(shape=(size, size, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.Conv2D(128, 3, strides=2, padding="same", activation="relu", name="conv4")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"classifier_c{channels}")
