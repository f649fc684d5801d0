-- title: SLA attainment per rule and day
-- team: service
-- question: Which SLAs slip? Share of obligations met, breaches, and median / 90th percentile time to complete, per rule over the last 30 days.
SELECT
    rule,
    day,
    obligations,
    met,
    breaches,
    share_met,
    round(p50_seconds / 3600, 2) AS p50_hours,
    round(p90_seconds / 3600, 2) AS p90_hours
FROM sla_attainment_daily
WHERE day > toDate((SELECT as_of FROM hub_clock)) - 30
ORDER BY rule ASC, day ASC
