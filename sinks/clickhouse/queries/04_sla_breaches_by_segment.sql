-- title: Where SLAs slip: breaches by rule and customer segment
-- team: service
-- question: For each rule and segment, how many obligations were breached in the last 30 days and how late were the late completions?
SELECT
    rule,
    segment,
    count() AS obligations,
    countIf(status != 'met') AS breaches,
    round(countIf(status != 'met') / count(), 4) AS breach_share,
    countIf(status = 'breached') AS still_open,
    round(sumIf(ifNull(duration_seconds, 0) - limit_seconds, status = 'completed_late')
          / greatest(countIf(status = 'completed_late'), 1) / 3600, 2) AS avg_hours_late
FROM sla_obligations
WHERE decided_on > toDate((SELECT as_of FROM hub_clock)) - 30
GROUP BY rule, segment
ORDER BY breaches DESC, rule ASC, segment ASC
