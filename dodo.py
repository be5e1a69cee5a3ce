"""NPUForge: build every stale step of a project.yaml with doit.

    doit                                  build project.yaml in this folder
    doit -f path/to/dodo.py project=other/project.yaml
    doit list                             every step of every variant
    doit report baseline=old/results.json compare with an earlier build

Planning reads project.yaml and imports no TensorFlow, Vela or fabric; the
steps import them when they run.
"""

from doit import get_var

from tasks import doit_tasks

DOIT_CONFIG, _creators = doit_tasks.load(get_var("project"), get_var("baseline"))

task_fetch = _creators["fetch"]
task_import = _creators["import"]
task_prune = _creators["prune"]
task_rewrite = _creators["rewrite"]
task_quantize = _creators["quantize"]
task_metafile = _creators["metafile"]
task_compile = _creators["compile"]
task_evaluate = _creators["evaluate"]
task_analyse = _creators["analyse"]
task_benchmark = _creators["benchmark"]
task_results = _creators["results"]
task_report = _creators["report"]
task_release = _creators["release"]
task_gates = _creators["gates"]
globals()["task_verify-release"] = _creators["verify-release"]  # `doit verify-release PATH.tar.gz`
