import sys

from tools.play.cli import main

sys.exit(main())
