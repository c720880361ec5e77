"""``python -m mongoshift``: the same commands as the ``mongoshift`` binary."""

import sys

from mongoshift._native import main

sys.exit(main(sys.argv[1:]))
