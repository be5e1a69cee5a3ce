"""``python -m tasks.reference [--check]``: write the generated reference pages, or name the stale ones."""

import sys

from tasks.reference.pages import main

sys.exit(main(sys.argv))
