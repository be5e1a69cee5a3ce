"""SyNAP conversion metafiles (Synaptics VS680, SL1680, …) from project.yaml.  Pure: no toolkit needed.

How project.yaml maps onto the metafile ``synap convert --meta`` reads:

- ``inputs``: ``means``/``scale`` are the model's dataset normalisation (``preprocess.mean`` and
  ``scale`` of its calibration dataset, else its validation dataset; left out when they are the
  identity, mean 0 and scale 1), plus ``format`` and ``preprocess`` (``type``, ``size``) from the
  model's ``synap: {inputs: [...]}``.
- ``outputs``: for a pruned variant, one entry per kept output with its ``name`` (SyNAP prunes the
  model itself), then ``dequantize`` and ``format`` from the variant's (or, unpruned, the model's)
  ``synap: {outputs: [...]}``, one entry per output in order.
- ``quantization``: ``data_type`` from the scheme's ``type`` (uint8, int8, int16; int16x8 is
  SyNAP's int16), or a per-layer map when the scheme has ``overrides``: ``'*'`` is the scheme's
  type and ``from: LAYER`` becomes ``'LAYER...'`` (that layer and all after it); ``scheme`` and
  ``algorithm`` as given; ``dataset``: the calibration dataset's globs as written in project.yaml
  (``synap convert`` runs in the project folder).  A ``float16`` scheme has no quantization section:
  SyNAP then keeps the model in floating point.  An ``auto`` scheme is int8 with the layers its
  search chose (tasks/model/mixed_search.py) in int16, each by name.
"""

from __future__ import annotations

from typing import Any

from tasks.model import schemes

SYNAP_TYPES = {s.name: s.synap for s in schemes.SCHEMES if s.synap}  # a scheme type → SyNAP's data type
OVERRIDE_TYPES = {**{s.name: s.synap for s in schemes.SCHEMES if s.synap and s.override}, schemes.FLOAT: "float16"}


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def inputs_section(
    mean: tuple[float, ...] | None, scale: tuple[float, ...] | None, channels: int, extra: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``mean``/``scale``: the dataset's normalisation (None: no dataset); ``extra``: synap.inputs."""
    first: dict[str, Any] = {}
    if mean is not None and scale is not None and (any(m != 0 for m in mean) or any(s != 1 for s in scale)):
        means = list(mean) * channels if len(mean) == 1 else list(mean)
        first["means"] = [_number(m) for m in means]
        first["scale"] = _number(scale[0]) if len(set(scale)) == 1 else [_number(s) for s in scale]
    entries = [dict(e) for e in extra] or ([{}] if first else [])
    if first:
        entries[0] = {**first, **entries[0]}  # explicit means/scale in synap.inputs win
    return [_ordered(e, ("means", "scale", "format", "preprocess")) for e in entries]


def outputs_section(names: tuple[str, ...] | None, extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``names``: a pruned variant's kept outputs (None: the model's own); ``extra``: synap.outputs."""
    count = len(names) if names else len(extra)
    entries = []
    for i in range(count):
        entry = dict(extra[i]) if i < len(extra) else {}
        if names:
            entry["name"] = names[i]
        entries.append(_ordered(entry, ("name", "dequantize", "format")))
    return entries


def quantization_section(
    scheme_type: str,
    overrides: list[dict[str, str]],
    scheme: str | None,
    algorithm: str | None,
    dataset_globs: list[str] | None,
) -> dict[str, Any] | None:
    if scheme_type == "float16" and not overrides:
        return None
    base = SYNAP_TYPES[scheme_type]
    data_type: str | dict[str, str] = base
    if overrides:
        data_type = {"*": base}
        for o in overrides:
            data_type[f"{o['from']}..."] = OVERRIDE_TYPES[o["type"]]
    section: dict[str, Any] = {"data_type": data_type}
    if scheme:
        section["scheme"] = scheme
    if algorithm:
        section["algorithm"] = algorithm
    if dataset_globs:
        section["dataset"] = list(dataset_globs)
    return section


def with_layers(section: dict[str, Any], layers: list[str], data_type: str) -> dict[str, Any]:
    """A quantization section whose ``layers`` (by output tensor name) get ``data_type``, the rest its own type:
    SyNAP's per-layer mixed section (``'*'`` for every other layer)."""
    base = section["data_type"]
    mixed = dict(base) if isinstance(base, dict) else {"*": base}
    mixed.update(dict.fromkeys(layers, data_type))
    return {**section, "data_type": mixed}


def metafile(
    inputs: list[dict[str, Any]], outputs: list[dict[str, Any]], quantization: dict[str, Any] | None
) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if inputs:
        meta["inputs"] = inputs
    if outputs:
        meta["outputs"] = outputs
    if quantization:
        meta["quantization"] = quantization
    return meta


def dump(meta: dict[str, Any]) -> str:
    """The metafile as YAML, laid out as SyNAP's documentation writes it: block mappings and
    lists, number lists inline (``means: [0, 0, 0]``)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def number_lists_inline(dumper: yaml.SafeDumper, items: list) -> yaml.Node:
        inline = bool(items) and all(isinstance(x, int | float) and not isinstance(x, bool) for x in items)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=inline)

    Dumper.add_representer(list, number_lists_inline)
    return yaml.dump(meta, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)


def _ordered(entry: dict[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    return {**{k: entry[k] for k in first if k in entry}, **{k: v for k, v in entry.items() if k not in first}}
