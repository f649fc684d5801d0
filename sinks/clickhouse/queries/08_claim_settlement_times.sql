-- title: Claim settlement time by product line
-- team: service
-- question: How long from claim reported to paid, per product line (median and 90th percentile, in days), for claims paid in the last 90 days?
SELECT
    product_line,
    count() AS claims_paid,
    round(quantileExact(0.5)(seconds_to_pay) / 86400, 2) AS p50_days,
    round(quantileExact(0.9)(seconds_to_pay) / 86400, 2) AS p90_days
FROM
(
    WITH (SELECT as_of FROM hub_clock) AS as_of
    SELECT
        claim_id,
        anyIf(product_line, event_type = 'claim_reported') AS product_line,
        dateDiff('second', minIf(occurred_at, event_type = 'claim_reported'),
                 maxIf(occurred_at, event_type = 'claim_paid')) AS seconds_to_pay
    FROM events_unique
    WHERE domain = 'claims' AND event_type IN ('claim_reported', 'claim_paid')
    GROUP BY claim_id
    HAVING countIf(event_type = 'claim_reported') > 0
       AND countIf(event_type = 'claim_paid') > 0
       AND maxIf(occurred_at, event_type = 'claim_paid') > as_of - 90 * 86400
)
GROUP BY product_line
ORDER BY product_line ASC
