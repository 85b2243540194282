"""``python -m omnidex``: the same as the ``omnidex`` command."""
import sys

from .cli import main

sys.exit(main())
