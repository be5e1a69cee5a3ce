"""The two kinds of failure a user sees.

``ConfigError``: project.yaml (or a file it names) is wrong; reported as one
``ERROR:`` line before anything runs.  ``StepError``: a step ran and could not
produce its output for a reason the user can fix; reported as the step's
failure message, without a traceback.
"""


class ConfigError(Exception):
    """Bad project configuration: the message names file, line, YAML path and fix."""


class StepError(Exception):
    """A step failed for a reason stated in its message (bad model, unknown tensor, ...)."""
