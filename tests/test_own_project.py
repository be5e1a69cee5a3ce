"""A user's own project: a folder outside the checkout holding only project.yaml builds with plain doit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support import REPO, doit, ok, ran, write


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def test_a_folder_with_only_project_yaml_builds_with_plain_doit(built_tiny: Path):
    assert not (built_tiny / "dodo.py").exists() and not str(built_tiny).startswith(str(REPO))
    results = json.loads((built_tiny / "build" / "results.json").read_text())
    assert [v["id"] for v in results["variants"]] == [
        "tiny/int8@u65",
        "tiny/int8@u55",
        "tiny/int8@cpu",
        "tiny/a16w8@u65",
        "tiny/a16w8@u55",
        "tiny/a16w8@cpu",
    ]
    again = ok(doit(built_tiny))
    assert ran(again) == set() and again.stdout == ""


def test_list_and_explain_on_a_fresh_folder_create_nothing(tiny: Path):
    import shutil

    shutil.rmtree(tiny / "build")
    before = files_under(tiny)
    listed = ok(doit(tiny, "list"))
    assert "compile:tiny/int8@u55" in listed.stdout
    explained = ok(doit(tiny, "explain"))
    assert "import:tiny\n    no record of an earlier run" in explained.stdout
    assert files_under(tiny) == before


def test_an_empty_folder_says_what_is_missing(tmp_path: Path):
    proc = doit(tmp_path)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines()[-1] == (
        "NPUForge: no project.yaml here either; run doit in the folder of your project.yaml, "
        "or name it with project=PATH/project.yaml"
    )
    assert "Traceback" not in proc.stderr


def test_project_names_a_project_yaml_elsewhere(built_tiny: Path, tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "PWD": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "doit", "list", f"project={built_tiny / 'project.yaml'}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "quantize:tiny/a16w8" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # its paths resolve against its own folder


def test_somebody_elses_dodo_py_still_works(tmp_path: Path):
    write(
        tmp_path / "dodo.py",
        """
        def task_hello():
            def hello():
                open("hello.txt", "w").write("hi")

            return {"actions": [hello], "targets": ["hello.txt"]}
        """,
    )
    proc = ok(doit(tmp_path))
    assert ran(proc) == {"hello"} and (tmp_path / "hello.txt").read_text() == "hi"
    assert ok(doit(tmp_path, "list")).stdout.split() == ["hello"]
