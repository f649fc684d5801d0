"""Business calendar: which days count as working days for "N working day" SLAs.

Public holidays and the weekend days that are worked instead (China's 调休) come from the
maintained `holidays` package, so the hub needs no hand-kept holiday list.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


class BusinessCalendar:
    def __init__(self, country: str = "CN", timezone: str = "Asia/Shanghai") -> None:
        self.country = country
        self.tz = ZoneInfo(timezone)
        self._holidays = holidays.country_holidays(country)

    @lru_cache(maxsize=4096)  # noqa: B019 - one calendar lives as long as the worker
    def is_working_day(self, day: dt.date) -> bool:
        return bool(self._holidays.is_working_day(day))

    def add_working_days(self, start_ms: int, days: int) -> int:
        """The same local clock time `days` working days later.

        A start on a non-working day counts from the beginning of the next working day,
        as a claim reported on a Saturday is handled from Monday morning.
        """
        local = dt.datetime.fromtimestamp(start_ms / 1000, tz=self.tz)
        if not self.is_working_day(local.date()):
            day = local.date()
            while not self.is_working_day(day):
                day += dt.timedelta(days=1)
            local = dt.datetime.combine(day, dt.time(0, 0), tzinfo=self.tz)
        day = local.date()
        remaining = days
        while remaining > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        end = dt.datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=self.tz)
        return int(end.timestamp() * 1000)

    @property
    def timezone(self) -> str:
        """The IANA name of the zone working days are counted in."""
        return self.tz.key

    def local_date(self, ms: int) -> dt.date:
        """The calendar date in this calendar's zone at epoch milliseconds ``ms``."""
        return dt.datetime.fromtimestamp(ms // 1000, tz=self.tz).date()

    def utc_offset_ms(self, ms: int) -> int:
        """The zone's offset from UTC at epoch milliseconds ``ms`` (local = UTC + offset)."""
        offset = dt.datetime.fromtimestamp(ms // 1000, tz=self.tz).utcoffset()
        return int(offset.total_seconds() * 1000) if offset is not None else 0
