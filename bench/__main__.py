"""``make bench``: every benchmark, each against a baseline measured in the same run."""

import sys

from bench import startup

sys.exit(startup.main(sys.argv[1:]))
