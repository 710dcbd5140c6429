"""``python -m labs``: build, check, hand out and grade the course labs."""

import sys

from labs.framework.cli import main

sys.exit(main())
