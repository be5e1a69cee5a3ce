"""Vela's --ignore-ops, --tensor-allocator and --separate-io-regions as target keys: checked at load, passed to a
real Vela compile, and no fingerprint change for a target that does not use them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conftest import FirstBuild
from support import write
from tasks import config
from tasks.errors import ConfigError
from tasks.planning import options as opts
from tasks.steps import search
from tasks.toolchains.vela import compile
from tasks.toolchains.vela.settings import VelaSettings

PROJECT = """
version: 1
name: keys
datasets:
  pics: {images: "data/*.png"}
models:
  net: {source: net.tflite, calibration: pics}
quantization:
  q: {type: int8}
targets:
  u65:
    compiler: vela
    accelerator: ethos-u65-256
    system_config: Ethos_U65_High_End
    memory_mode: Dedicated_Sram
    EXTRA
"""


def load(tmp_path: Path, extra: str) -> config.Project:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "a.png").write_bytes(b"")
    (tmp_path / "net.tflite").write_bytes(b"")
    return config.load(write(tmp_path / "project.yaml", PROJECT.replace("EXTRA", extra)))


def test_the_keys_load_and_a_typo_in_ignore_ops_is_one_clear_error(tmp_path: Path):
    got = load(
        tmp_path, "ignore_ops: [resize_bilinear]\n    tensor_allocator: LinearAlloc\n    separate_io_regions: true"
    )
    settings = got.targets["u65"].settings
    assert settings.ignore_ops == ("RESIZE_BILINEAR",) and settings.tensor_allocator == "LinearAlloc"
    assert settings.separate_io_regions is True
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "ignore_ops: [CONV2D]")
    assert "targets.u65.ignore_ops[0]: 'CONV2D' is not a TFLite builtin operator; did you mean CONV_2D" in str(
        info.value
    )
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "tensor_allocator: Best")
    assert "targets.u65.tensor_allocator" in str(info.value)


def test_a_target_without_them_keeps_its_fingerprint():
    plain = VelaSettings(accelerator="ethos-u65-256", system_config="Ethos_U65_High_End", memory_mode="Dedicated_Sram")
    printed = opts.fingerprint(plain, Path("/"))
    assert not {"ignore_ops", "tensor_allocator", "separate_io_regions"} & set(printed)
    assert "ignore_ops" in opts.fingerprint(replace(plain, ignore_ops=("CONV_2D",)), Path("/"))


def test_vela_gets_them(first_build: FirstBuild, tmp_path: Path):
    model = first_build.root / "build" / "tiny" / "int8" / "tiny_int8.tflite"
    plain = VelaSettings(accelerator="ethos-u65-256", system_config="Ethos_U65_High_End", memory_mode="Dedicated_Sram")

    def facts(settings: VelaSettings) -> dict:
        work = tmp_path / str(len(list(tmp_path.iterdir())))
        work.mkdir()
        options = search.Vela(target="u65", settings=settings).compile_options("tiny/int8@u65", work)
        return compile.vela_facts(model, work, options)

    base = facts(plain)
    ignored = facts(replace(plain, ignore_ops=("CONV_2D",)))
    convs = sum(1 for layer in base["layers"] if layer["op"] == "Conv2D" and layer["target"] == "NPU")
    assert convs and ignored["ops"]["cpu"] == base["ops"]["cpu"] + convs  # every CONV_2D left on the CPU
    assert not [layer for layer in ignored["layers"] if layer["op"] == "Conv2D" and layer["target"] == "NPU"]
    linear = facts(replace(plain, tensor_allocator="LinearAlloc"))
    assert linear["estimate"]["sram_kib"] >= base["estimate"]["sram_kib"]  # no reuse of arena space
    separate = facts(replace(plain, separate_io_regions=True))  # needs COP2, which the compile step adds
    assert separate["ops"] == base["ops"]
