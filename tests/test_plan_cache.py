"""The kept plan: a no-op build reuses it; any change to what the plan was made from plans again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import doit, ok, tiny_project, write
from tasks.engine import plan_cache
from tasks.engine import wiring as doit_tasks


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("NPUFORGE_PLANS", str(tmp_path / "plans"))
    code = tmp_path / "code"
    write(code / "module.py", "x = 1\n")
    monkeypatch.setattr(plan_cache, "_CODE", (code,))
    site = tmp_path / "site-packages"
    (site / "tool-1.0.dist-info").mkdir(parents=True)
    monkeypatch.setattr(plan_cache, "_site_dirs", lambda: [str(site)])
    return tiny_project(tmp_path / "p")


def kept(project: Path, baseline: Path | None = None) -> bool:
    """Plan the project; True if the kept plan was reused."""
    records, plans = plan_cache.planned(project, baseline, doit_tasks.tasks_data)
    assert [g["prefix"] for g in records["groups"]][:3] == ["fetch", "convert", "import"]
    return plans._planning is None


def later(path: Path) -> None:
    """Give ``path`` a new mtime, as an edit would (and the file system's clock can tell)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))


def test_an_unchanged_project_reuses_its_plan_and_the_kept_plan_is_the_same(project: Path):
    assert not kept(project)
    assert kept(project)
    records, plans = plan_cache.planned(project, None, doit_tasks.tasks_data)
    fresh_records, fresh = plan_cache.planned(project, None, lambda p: doit_tasks.tasks_data(p))
    assert records == fresh_records
    loaded = plans.planning()  # unpickled when a step asks for it
    assert [s.task_name for s in loaded.steps] == [s.task_name for s in plan_cache._plan(project, None).steps]
    assert loaded.fingerprints() == plan_cache._plan(project, None).fingerprints()


def test_an_edit_of_project_yaml_plans_again(project: Path):
    kept(project)
    project.write_text(project.read_text().replace("channels: 8", "channels: 12"))
    assert not kept(project)
    assert kept(project)


def test_a_file_the_project_names_plans_again_when_it_changes_or_goes(project: Path):
    kept(project)
    later(project.parent / "models" / "tiny.py")
    assert not kept(project)
    (project.parent / "models" / "tiny.py").unlink()
    with pytest.raises(Exception, match="tiny.py"):  # now an error, as without a kept plan
        kept(project)


def test_a_new_file_matching_a_dataset_glob_plans_again(project: Path):
    kept(project)
    (project.parent / "data" / "img9.png").write_bytes((project.parent / "data" / "img0.png").read_bytes())
    assert not kept(project)


def test_new_code_new_tools_an_npuforge_variable_or_another_baseline_plan_again(project: Path, tmp_path, monkeypatch):
    kept(project)
    later(tmp_path / "code" / "module.py")
    assert not kept(project)
    (tmp_path / "site-packages" / "tool-1.0.dist-info").rename(tmp_path / "site-packages" / "tool-1.1.dist-info")
    assert not kept(project)
    monkeypatch.setenv("NPUFORGE_CACHE", str(tmp_path / "cache"))
    assert not kept(project)
    baseline = write(tmp_path / "old" / "results.json", '{"project": "tiny", "variants": []}')
    assert not kept(project, baseline)
    assert kept(project, baseline)


def test_a_no_op_build_loads_no_config_and_no_step_module(tmp_path: Path):
    """What a no-op costs is doit's own work: the kept task data, no jsonschema, YAML or planning."""
    tiny_project(tmp_path)
    env = {"NPUFORGE_PLANS": str(tmp_path / "plans")}
    ok(doit(tmp_path, "list", env=env))  # plans, and keeps the plan
    probe = write(
        tmp_path / "probe.py",
        """
        import sys, runpy
        sys.argv = ["doit", "list"]
        try:
            runpy.run_module("doit", run_name="__main__")
        except SystemExit:
            pass
        watched = ("jsonschema", "yaml", "tasks.config", "tasks.engine.plan", "tasks.steps")
        heavy = sorted(m for m in sys.modules if m in watched)
        print("LOADED", heavy)
        """,
    )
    import subprocess
    import sys

    from support import doit_command

    _, full_env = doit_command(tmp_path, env=env)
    proc = subprocess.run([sys.executable, str(probe)], cwd=tmp_path, env=full_env, capture_output=True, text=True)
    assert "LOADED []" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "import:tiny" in proc.stdout
    # a writing command too: what it tells its steps (when it began) is no part of the plan
    ok(doit(tmp_path, "import", env=env))
    probe.write_text(probe.read_text().replace('["doit", "list"]', '["doit", "import"]'))
    proc = subprocess.run([sys.executable, str(probe)], cwd=tmp_path, env=full_env, capture_output=True, text=True)
    assert "LOADED []" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
