"""schema/results.schema.json: what the results step writes matches it, and a renamed key or a wrong type does not."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from support import REPO, doit
from tasks.errors import StepError
from tasks.reference import pages as reference
from tasks.steps import results

SCHEMA = REPO / "schema" / "results.schema.json"


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def problems(document) -> list[str]:
    return [f"{e.json_path}: {e.message[:200]}" for e in validator().iter_errors(document)]


def built(root: Path) -> dict:
    return json.loads((root / "build" / "results.json").read_text())


def test_every_key_of_the_schema_has_a_description():
    schema = json.loads(SCHEMA.read_text())
    missing = [k.path for k in reference.keys(schema, schema) if not k.node.get("description")]
    assert missing == [], "describe these keys in schema/results.schema.json:\n" + "\n".join(missing)


def test_a_real_build_writes_results_that_match_the_schema(built_tiny: Path):
    document = built(built_tiny)
    assert problems(document) == []
    targets = {v["target"]: v for v in document["variants"]}
    assert targets.keys() == {"u65", "u55", "cpu"}  # Vela rows with estimates, and rows without
    assert targets["u65"]["estimate"] and targets["cpu"]["estimate"] is None and targets["cpu"]["accuracy"]


def test_a_failed_variant_row_matches_the_schema(built_tiny: Path):
    document = built(built_tiny)
    entry = results.Entry(
        id="tiny/int8@u65", model="tiny", prune=None, quantization="int8", target="u65", artifact=Path("missing.tflite")
    )
    failure = {"step": "import:tiny", "message": "models.tiny.source: not a TFLite flatbuffer"}
    document["variants"][0] = results._failed_row(entry, failure)
    assert problems(document) == []


def test_the_example_results_match_the_schema():
    path = REPO / "build" / "results.json"
    if not path.is_file():
        pytest.skip("the example is not built (make builds it; make test does not)")
    assert problems(json.loads(path.read_text())) == []


def _renamed(row: dict, old: str, new: str) -> None:
    row[new] = row.pop(old)


@pytest.mark.parametrize(
    ("change", "where", "said"),
    [
        (lambda v: _renamed(v, "size_bytes", "size"), "$.variants[0]", "('size' was unexpected)"),
        (lambda v: _renamed(v["accuracy"], "worst_output", "worst"), "$.variants[0].accuracy", "('worst' was unexpected)"),
        (lambda v: v["estimate"].update(inference_ms="4.75"), "$.variants[0].estimate.inference_ms",
         "'4.75' is not of type 'number'"),
        (lambda v: v.update(layers={}), "$.variants[0].layers", "{} is not of type 'array', 'null'"),
        (lambda v: v.pop("benchmarks"), "$.variants[0]", "'benchmarks' is a required property"),
    ],
)  # fmt: skip
def test_a_renamed_key_or_a_wrong_type_is_named_with_its_path(built_tiny: Path, change, where, said):
    document = built(built_tiny)
    document["variants"].sort(key=lambda v: v["target"] != "u65")  # a Vela row first: it has every fact
    changed = copy.deepcopy(document)
    change(changed["variants"][0])
    results.check(document)  # the real one passes
    with pytest.raises(StepError) as failed:
        results.check(changed)
    message = str(failed.value)
    assert message.startswith(f"results.json does not match schema/results.schema.json at {where}: ")
    assert said in message and "this is a bug in NPUForge, not in the project" in message
    assert "\n" not in message  # one line: the failure record keeps the first


def test_the_results_step_refuses_to_write_what_does_not_match(tiny: Path):
    facts = next((tiny / "build").rglob("u65/compile.json"))
    data = json.loads(facts.read_text())
    data["estimate"]["inference_ms"] = str(data["estimate"]["inference_ms"])  # a number as a string
    facts.write_text(json.dumps(data))
    before = (tiny / "build" / "results.json").read_bytes()
    proc = doit(tiny)
    assert proc.returncode != 0
    assert ".estimate.inference_ms: " in proc.stdout + proc.stderr
    assert "is not of type 'number'" in proc.stdout + proc.stderr
    assert (tiny / "build" / "results.json").read_bytes() == before  # not overwritten with a half-valid file
