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

# one creator per step kind of tasks/steps/__init__.py, e.g. task_compile, task_verify-release
globals().update({f"task_{prefix}": create for prefix, create in _creators.items()})
