"""python -m arvados_fuse: the arv-mount command."""

import sys

from .command import main

sys.exit(main())
