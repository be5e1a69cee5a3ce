"""For a script run as ``python bench/NAME.py``: the checkout and tests/ first on sys.path.

pytest gets the same from ``pythonpath = [".", "tests"]`` in pyproject.toml: ``tasks`` from this
checkout (not another one that is installed), and the helpers the tests and the benches share
(tests/support.py, tests/sshd.py, ...).  Every bench imports this module first; this is the only
place a bench changes sys.path.
"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]
