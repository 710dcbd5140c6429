"""``python -m labs``: build, check, hand out and grade the course labs, and walk through a handout."""

import sys

from labs.framework import walkthrough
from labs.framework.cli import main

sys.exit(walkthrough.main(sys.argv[2:]) if sys.argv[1:2] == ["walkthrough"] else main())
