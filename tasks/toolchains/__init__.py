"""Toolchains: how a target's variants are built, one folder each.

A folder holds everything one toolchain knows: its registry row (``TOOLCHAIN``
in the folder's ``__init__``: the keys it reads, the steps it adds, what it
ships), the typed settings of its targets, their declared keys (``TARGET``:
schema/project.schema.json's target def is composed from them) and their
reader, its rules, the adapter that parses its tools' output, its steps and
the path of its artifact.  ``registry.py`` lists the rows; ``base.py`` is what
every folder shares.  Adding a toolchain is a folder here and a row in
``registry.py``, then ``python -m tasks.reference`` to regenerate the schema.
"""
