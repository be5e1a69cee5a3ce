"""What a build found, as data: the records of results.json and the failure records.

``records`` declares the shape of results.json (and of the files the steps
hand to the results step); ``failures`` keeps the record of a step that
failed, beside the build, until the step runs again; ``schema`` writes
schema/results.schema.json from the records (``python -m tasks.reference``).
All plain data: the results step (tasks/steps/results.py) assembles them,
the report and the release read them.
"""
