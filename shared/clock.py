"""Today's date, injectable: schedules are tested by setting the clock, never by waiting."""

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.date]


def clock_for(fixed: dt.date | None) -> Clock:
    """A clock frozen at `fixed` (tests, rehearsals), or the real UTC date."""
    if fixed is not None:
        return lambda: fixed
    return lambda: dt.datetime.now(dt.UTC).date()
