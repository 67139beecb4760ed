"""Calendar days in documents. BSON has no date type: a day is stored as its UTC midnight,
and read back as the date of that midnight."""

import datetime as dt


def day(value: dt.date | None) -> dt.datetime | None:
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC) if value else None


def date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None
