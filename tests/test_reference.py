"""The generated reference: every schema key described, the committed pages current, the renderer exact."""

from __future__ import annotations

import json

from support import REPO, write
from tasks.config import SCHEMA_PATH
from tasks.reference import pages as reference

SCHEMA = json.loads(SCHEMA_PATH.read_text())


def test_every_key_of_the_schema_has_a_description():
    missing = [
        k.path + (f" (when {k.condition})" if k.condition else "")
        for k in reference.keys(SCHEMA, SCHEMA)
        if not k.node.get("description")
    ]
    assert missing == [], "describe these keys in schema/project.schema.json:\n" + "\n".join(missing)


def test_the_committed_pages_are_current():
    stale = reference.stale()
    assert stale == [], f"run `python -m tasks.reference` and commit {', '.join(stale)}"


def test_the_check_command_names_a_stale_page(tmp_path, monkeypatch, capsys):
    concepts = (REPO / "docs" / "concepts.md").read_text()
    head, _, tail = concepts.partition("| [fetch](reference/steps.md#fetch) |")
    write(tmp_path / "docs" / "concepts.md", head + "| [fetch] | an old row |" + tail.partition("\n")[2])
    monkeypatch.setattr(reference, "REPO", tmp_path)
    assert reference.main(["reference", "--check"]) == 1
    err = capsys.readouterr().err
    assert "docs/reference/project-yaml.md is stale; run `python -m tasks.reference`" in err
    assert "docs/concepts.md is stale; run `python -m tasks.reference`" in err
    assert reference.main(["reference"]) == 0
    assert reference.main(["reference", "--check"]) == 0
    assert (tmp_path / "docs" / "concepts.md").read_text() == concepts  # the region rewritten, the rest kept


def test_a_page_without_its_region_markers_is_an_error(tmp_path, monkeypatch, capsys):
    write(tmp_path / "docs" / "concepts.md", "# Concepts\n\n| step | task name |\n")
    monkeypatch.setattr(reference, "REPO", tmp_path)
    assert reference.main(["reference"]) == 1
    assert capsys.readouterr().err == (
        "ERROR: docs/concepts.md has no `<!-- generated: steps -->` … `<!-- end generated -->`: "
        "put them back around its generated part\n"
    )
    assert not (tmp_path / "docs" / "reference").exists()  # nothing written


def test_the_project_yaml_page_states_types_defaults_and_conditions():
    page = reference.project_yaml_reference(SCHEMA).splitlines()

    def row(path: str) -> str:
        (found,) = [line for line in page if line.startswith(f"| `{path}`")]
        return found

    assert row("targets.NAME.memory_mode").startswith("| `targets.NAME.memory_mode` *when compiler: vela* | string |")
    assert "| `22` |" in row("boards.NAME.port")
    assert "one of `int8`, `int16x8`, `auto`, `float16`, `dynamic`, `uint8`, `int16`" in row("quantization.NAME.type")
    assert "*when compiler: synap* | string |  | yes |" in row("targets.NAME.soc")
    assert "*when an object, without builder*" in row("models.NAME.source.sha256")
    assert '| `"float32"` |' in row("quantization.NAME.io")
    assert row("quantization.NAME.overrides[].from").startswith("| `quantization.NAME.overrides[].from` | string |")


def test_the_renderer_on_a_small_schema():
    schema = {
        "description": "A demo.",
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {"enum": ["a", "b"], "description": "Which."},
            "parts": {"type": "object", "additionalProperties": {"$ref": "#/$defs/part"}, "description": "Parts."},
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": "a"}}},
                "then": {
                    "properties": {
                        "kind": {"const": "a"},
                        "size": {"type": "integer", "minimum": 1, "default": 4, "description": "How big."},
                    }
                },
            }
        ],
        "$defs": {
            "part": {
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {"type": "string"}, "description": "Tags."}},
            }
        },
    }
    assert reference.project_yaml_reference(schema) == "\n".join(
        [
            "# project.yaml reference",
            "",
            "Generated from `schema/project.schema.json` by `python -m tasks.reference`; do not edit by hand.",
            "",
            "A demo.",
            "",
            "`NAME` stands for a name you choose (a dataset, model, scheme, target or board); `[]` for each",
            "item of a list. A key marked *when …* applies only in that case.",
            "",
            "## top level",
            "",
            "| key | type | default | required | description |",
            "|---|---|---|---|---|",
            "| `kind` | one of `a`, `b` |  | yes | Which. |",
            "| `size` *when kind: a* | integer | `4` |  | How big. (≥ 1) |",
            "",
            "## parts",
            "",
            "| key | type | default | required | description |",
            "|---|---|---|---|---|",
            "| `parts` | object |  |  | Parts. |",
            "| `parts.NAME.tags` | list of string |  |  | Tags. |",
            "",
        ]
    )


def test_the_concepts_step_table_has_a_row_per_step_kind():
    from tasks.reference.steps import steps_table
    from tasks.steps import STEPS

    rows = {row.split("]")[0].removeprefix("| ["): row for row in steps_table().splitlines()[2:]}
    assert list(rows) == [kind.name for kind in STEPS]
    assert rows["compile-synap"] == (
        "| [compile-synap](reference/steps.md#compile-synap) | `compile:NAME` | Compile for a Synaptics SoC with "
        "the SyNAP toolkit (synap convert). | a worker process | no |"
    )
    assert "| `verify-release ARCHIVES` |" in rows["verify-release"] and "| `results` |" in rows["results"]


def test_the_steps_page_lists_every_step_and_toolchain():
    from tasks.steps import STEPS
    from tasks.toolchains.registry import TOOLCHAINS

    page = reference.PAGES[1][1]()
    assert all(f"### `{kind.name}`" in page for kind in STEPS)
    assert all(f"| {t.name} | `{t.compiler}` |" in page for t in TOOLCHAINS)
    assert "| `settings.memory_mode` | `str` |  | a Memory_Mode section of the Vela config |" in page
    assert "| `cache` | `Path` | not fingerprinted | where downloaded wheels are kept |" in page
