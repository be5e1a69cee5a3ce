"""``python -m tasks.reference [--check]``: write the generated reference pages and schema/results.schema.json,
or name the stale ones."""

import sys

from tasks.reference.pages import main

sys.exit(main(sys.argv))
