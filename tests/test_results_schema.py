"""schema/results.schema.json: generated from the records, what the results step writes matches it, and a renamed
key or a wrong type does not."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Annotated, Literal, NotRequired, TypedDict

import jsonschema
import pytest

from support import REPO, doit
from tasks.errors import StepError
from tasks.reference import pages as reference
from tasks.results.records import Doc, Min, NullsWhenPresent, keeps_other_keys
from tasks.results.schema import SchemaError, generate, render
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


def test_the_committed_schema_is_what_the_records_give():
    assert SCHEMA.read_text() == render(), (
        "schema/results.schema.json is not what tasks/results/records.py gives: "
        "run `python -m tasks.reference` and commit schema/results.schema.json"
    )


@keeps_other_keys
class Part(TypedDict):
    """A part; other keys kept."""

    size: Annotated[int, Doc("How big."), Min(1)]


class Demo(TypedDict):
    """A demo."""

    kind: Annotated[Literal["a", "b"] | None, Doc("Which.")]
    parts: Annotated[dict[str, Part], Doc("By name.")]
    tags: NotRequired[Annotated[list[str] | None, Doc("Tags.")]]
    error: NotRequired[Annotated[str, Doc("Why it failed."), NullsWhenPresent(kind="A failed demo has no kind.")]]


class Undescribed(TypedDict):
    """A record with a key that says nothing."""

    parts: Annotated[list[Part], Doc("Its parts.")]
    size: int


def test_the_generator_on_small_records():
    assert generate(Demo) == {
        "type": "object",
        "description": "A demo.",
        "additionalProperties": False,
        "required": ["kind", "parts"],
        "properties": {
            "kind": {"enum": ["a", "b", None], "description": "Which."},
            "parts": {
                "type": "object",
                "description": "By name.",
                "additionalProperties": {"type": "object", "$ref": "#/$defs/part"},
            },
            "tags": {"type": ["array", "null"], "description": "Tags.", "items": {"type": "string"}},
            "error": {"type": "string", "description": "Why it failed."},
        },
        "if": {"required": ["error"]},
        "then": {"properties": {"kind": {"type": "null", "description": "A failed demo has no kind."}}},
        "$defs": {
            "part": {
                "description": "A part; other keys kept.",
                "required": ["size"],
                "properties": {"size": {"type": "integer", "description": "How big.", "minimum": 1}},
            }
        },
    }


def test_the_generator_names_a_key_without_its_description():
    with pytest.raises(SchemaError) as failed:
        generate(Undescribed)
    assert str(failed.value) == (
        "Undescribed.size has no description: declare it as Annotated[…, Doc('…')] in records.py"
    )


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
        (
            lambda v: _renamed(v["accuracy"], "worst_output", "worst"),
            "$.variants[0].accuracy",
            "('worst' was unexpected)",
        ),
        (
            lambda v: v["estimate"].update(inference_ms="4.75"),
            "$.variants[0].estimate.inference_ms",
            "'4.75' is not of type 'number'",
        ),
        (lambda v: v.update(layers={}), "$.variants[0].layers", "{} is not of type 'array', 'null'"),
        (lambda v: v.pop("benchmarks"), "$.variants[0]", "'benchmarks' is a required property"),
    ],
)
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
    """A step's facts with a number as a string (a build would remake an edited output: the step runs here alone)."""
    from tasks import config
    from tasks.engine import plan

    facts = next((tiny / "build").rglob("u65/compile.json"))
    data = json.loads(facts.read_text())
    data["estimate"]["inference_ms"] = str(data["estimate"]["inference_ms"])  # a number as a string
    facts.write_text(json.dumps(data))
    before = (tiny / "build" / "results.json").read_bytes()
    step = plan.planning(config.load(tiny / "project.yaml")).step_of("results")
    with pytest.raises(StepError) as failed:
        results.run(step.options)
    assert ".estimate.inference_ms: " in str(failed.value)
    assert "is not of type 'number'" in str(failed.value)
    assert (tiny / "build" / "results.json").read_bytes() == before  # not overwritten with a half-valid file
    assert "compile:tiny/int8@u65" in doit(tiny).stdout  # and a build remakes the edited output


def test_every_fact_of_a_variant_row_is_declared_by_one_step_kind_and_typed_once():
    """The step table's rows declare which keys their facts fill; records.VariantRow types each key once."""
    import tasks.steps  # noqa: F401  (registers the step table)
    from tasks.planning.step import rows

    filled: dict[str, list[str]] = {}
    for kind in rows():
        for key in kind.facts.keys if kind.facts else ():
            filled.setdefault(key, []).append(kind.task_prefix)
    assert set(filled) == set(results.FACT_KEYS), "a fact no row fills, or a row's key that VariantRow lacks"
    shared = {k: p for k, p in filled.items() if len(set(p)) > 1}
    assert shared == {}, f"two kinds of step fill the same key: {shared}"


def test_a_row_is_assembled_from_the_facts_its_rows_declare(tmp_path: Path):
    """A variant with only a quantize step's facts: those keys are read, every other fact is empty."""
    facts = tmp_path / "quantize.json"
    facts.write_text(json.dumps({"inputs": [{"name": "x"}], "outputs": [], "quant_errors": None, "other": 1}))
    artifact = tmp_path / "m.tflite"
    artifact.write_bytes(b"1234")
    entry = results.Entry(
        id="m/q@cpu",
        model="m",
        prune=None,
        quantization="q",
        target="cpu",
        artifact=artifact,
        facts=(results.FactsFiles(kind="quantize", files=(facts,)),),
    )
    row = results.row(entry, tmp_path)
    assert row["inputs"] == [{"name": "x"}] and row["size_bytes"] == 4 and row["artifact"] == "m.tflite"
    assert row["benchmarks"] == [] and row["benchmark"] is None and row["accuracy"] is None
    assert list(row)[7:] == list(results.FACT_KEYS) and "other" not in row
