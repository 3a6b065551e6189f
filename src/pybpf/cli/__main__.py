"""``python -m pybpf`` runs the ``pybpf`` command."""

import sys

from . import main

sys.exit(main())
