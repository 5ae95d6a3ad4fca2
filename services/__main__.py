"""``python -m services`` is the ``audiobook`` command."""

import sys

from services.app.cli import main

sys.exit(main())
