"""``make clean``: remove what killed runs left (namespaces, processes, files).

Standard library only, so it works before the venv exists. Runs whose owning process
is still alive are left alone: two runs at once never clean each other up.
"""

from __future__ import annotations

import sys

from tools.lab import seal


def main() -> int:
    removed = seal.clean_stale()
    names = "".join(f" {r.netns}" for r in removed)
    print(f"kzlab clean: removed {len(removed)} stale run(s){names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
