"""``make bench``: every benchmark, each against a baseline measured in the same run.

python -m bench                    # every benchmark in turn, each with its own defaults
python -m bench NAME [ARGS ...]    # one benchmark with its arguments: startup, interception, censor_throughput,
                                   # national_scale, packet_paths, circumvention, strategy_search
"""

import sys

from bench import censor_throughput, circumvention, interception, national_scale, packet_paths, startup, strategy_search

BENCHMARKS = {
    "startup": startup.main,
    "interception": interception.main,
    "censor_throughput": censor_throughput.main,
    "national_scale": national_scale.main,
    "packet_paths": packet_paths.main,
    "circumvention": circumvention.main,
    "strategy_search": strategy_search.main,
}


def main(argv: list[str]) -> int:
    if not argv:
        status = 0
        for run in BENCHMARKS.values():
            status = max(status, run([]))
        return status
    name, *rest = argv
    if name not in BENCHMARKS:
        print(f"python -m bench [{'|'.join(BENCHMARKS)} [ARGS ...]]: no benchmark {name!r}", file=sys.stderr)
        return 2
    return BENCHMARKS[name](rest)


sys.exit(main(sys.argv[1:]))
