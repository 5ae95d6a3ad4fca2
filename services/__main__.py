"""``python -m services`` is the ``audiobook`` command."""

import sys

from services.cli import main

sys.exit(main())
