"""curfew: the daily access windows of January 5-9, 2022, on the lab clock.

From January 5 the country was dark but for short daily windows (UTC, kazakhstan.md
section 4): Jan 5 17:30-22:00, Jan 6 10:30-14:00, Jan 7 02:30-06:00, Jan 8 02:30-10:00,
Jan 9 02:30-06:00; stable again from ~02:15 on Jan 11. The border's data-plane block
follows that schedule by itself (AccessWindows wrapping DropTrafficAtBorder), and the
phases probe inside and between the windows: fixed-line subscribers reach the world only
inside a window, the world reaches the country's sites only then; mobile data stays off
throughout (assumed, as in kz2022_january). The curfew proper (23:00-07:00 local) is a
street curfew: the lab does not tie the network to it.
"""

from tools.play.cli import script_main
from tools.play.national import BORDER_WINDOWS, Country
from tools.play.spec import Phase, Scenario, Step

# (phase, lab time, whether a window is open then)
PROBES = (
    ("dark_jan5", "2022-01-05T12:00", False),
    ("open_jan5", "2022-01-05T18:00", True),
    ("dark_jan6", "2022-01-06T08:00", False),
    ("open_jan6", "2022-01-06T12:00", True),
    ("open_jan7", "2022-01-07T04:00", True),
    ("open_jan8", "2022-01-08T06:00", True),
    ("open_jan9", "2022-01-09T04:00", True),
    ("dark_jan9", "2022-01-09T12:00", False),
)


def build(operators: int = 4, subscribers: int = 2) -> Scenario:
    kz = Country(operators, subscribers)
    mobile_ops, mobile = kz.operators("mobile"), kz.subscribers("mobile")
    start = (
        BORDER_WINDOWS,
        *kz.each("attach", "cut", "ShutdownAccessNetwork", mobile_ops),
    )
    phases = [
        Phase(
            name,
            at=f"{'inside' if is_open else 'outside'} the access windows",
            time=moment,
            steps=start if i == 0 else (),
            expect=kz.cut_off(mobile) if is_open else kz.border_closed() | kz.cut_off(mobile),
        )
        for i, (name, moment, is_open) in enumerate(PROBES)
    ]
    phases.append(
        Phase(
            "restored",
            at="Jan 11 ~02:15 UTC: stable again",
            time="2022-01-11T02:15",
            steps=(Step("detach", "border"), *kz.each("detach", "cut", "", mobile_ops)),
        )
    )
    return kz.scenario(
        "curfew",
        "the daily access windows of January 5-9, 2022, played on the lab clock",
        tuple(phases),
        "kazakhstan.md section 4 (IODA, Cloudflare Radar: the daily access windows)",
    )


SCENARIO = build()

if __name__ == "__main__":
    script_main(SCENARIO)
