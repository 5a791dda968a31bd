"""``python -m monitor`` is the same as the ``hopwatch`` command."""

import sys

from monitor.cli import main

sys.exit(main())
