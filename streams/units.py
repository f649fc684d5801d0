"""Time units in milliseconds: event times, deadlines and Kafka timestamps are epoch ms."""

from __future__ import annotations

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
DAY_S = DAY_MS // SECOND_MS
