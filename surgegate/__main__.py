"""``python -m surgegate``: the ``surgegate`` command (see ``surgegate.cli``)."""

import sys

from surgegate.cli import main

sys.exit(main())
