"""NPUForge: build every stale step of a project.yaml with doit.

    doit                                  build project.yaml in this folder
    doit -f path/to/dodo.py project=other/project.yaml
    doit list                             every step of every variant
    doit report baseline=old/results.json compare with an earlier build

A folder holding only a project.yaml needs no dodo.py: NPUForge's doit commands
load it themselves (tasks/engine/loader.py).  This file names the project for them;
`project=PATH` on the command line overrides it.  Planning imports no
TensorFlow, Vela or fabric; the steps import them when they run.
"""

NPUFORGE_PROJECT = "project.yaml"


def task_npuforge():
    """Only a doit without NPUForge's commands reads this: they replace every task of this file."""
    import sys

    print(
        "ERROR: NPUForge's doit plugins are not installed in this Python "
        f"({sys.executable}); run `make`, or `pip install --no-deps -e PATH/TO/npuforge`",
        file=sys.stderr,
    )
    raise SystemExit(2)
