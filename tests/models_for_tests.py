"""Tiny real models built in the tests (Keras → TensorFlow Lite), a few layers each."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.model.datasets import Samples


def keras_net(batch: int | None = None, sparse: bool = False):
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(12, 12, 3), batch_size=batch, name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv2")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(5, name="dense")(x)
    model = keras.Model(inputs, outputs)
    if sparse:  # 90 % zeros: the converter stores such weights sparse, behind DENSIFY
        for layer in model.layers:
            if layer.get_weights():
                w, b = layer.get_weights()
                mask = np.random.default_rng(0).random(w.shape) < 0.9
                layer.set_weights([np.where(mask, 0.0, w).astype(np.float32), b])
    return model


def tflite_of(model, float16: bool = False, sparse: bool = False) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if float16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    if sparse:
        converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return converter.convert()


def run_tflite(content: bytes, x: np.ndarray, builtin: bool = False) -> list[np.ndarray]:
    """The model's outputs on ``x``; ``builtin``: TFLite's builtin kernels, as evaluate runs them (no XNNPACK)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kernels = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES} if builtin else {}
    interpreter = Interpreter(model_content=content, **kernels)
    detail = interpreter.get_input_details()[0]
    if list(detail["shape"]) != list(x.shape):
        interpreter.resize_tensor_input(detail["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def imported(folder: Path, model) -> Path:
    """A Keras model converted to .tflite and run through the import step: a canonical float model."""
    from tasks.steps import import_model

    source = folder / "net.tflite"
    source.write_bytes(tflite_of(model))
    out = folder / "net_float.tflite"
    import_model.run(
        import_model.Options(
            source=source,
            kind="file",
            function=None,
            args_json="{}",
            input_shape=None,
            label="models.net",
            source_files=(source,),
            out=out,
            facts=folder / "import.json",
        )
    )
    return out


def identity_conv():
    """A 1x1 convolution with identity weights: its only error once quantized is rounding."""
    import keras

    inputs = keras.Input(shape=(4, 4, 8), batch_size=1)
    conv = keras.layers.Conv2D(8, 1, use_bias=False)
    outputs = conv(inputs)
    conv.set_weights([np.eye(8, dtype=np.float32).reshape(1, 1, 8, 8)])
    return keras.Model(inputs, outputs)


def random_dataset(count: int = 8, name: str = "noise") -> Samples:
    """What a step gets for ``random: {seed: 0, count: N}``: uniform samples in [0, 1)."""
    return Samples(name=name, kind="random", seed=0, count=count, low=0.0, high=1.0)


def calibrated_by_step(float_model: Path, dataset: Samples, folder: Path) -> dict[str, Path]:
    """The calibrate step run on ``dataset``: the quantize step's ``ranges`` and ``calibrated`` options."""
    from tasks.steps import calibrate

    folder.mkdir(parents=True, exist_ok=True)
    ranges, model = folder / "calibration.json", folder / "calibrated.tflite"
    calibrate.run(
        calibrate.Options(label="calibrated", dataset=dataset, model=float_model, out=ranges, calibrated=model)
    )
    return {"ranges": ranges, "calibrated": model}
