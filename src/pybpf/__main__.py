"""``python -m pybpf`` runs the ``pybpf`` command."""

import sys

from .cli import main

sys.exit(main())
