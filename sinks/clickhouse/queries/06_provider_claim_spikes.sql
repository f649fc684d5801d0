-- title: Providers whose claim volume jumps
-- team: risk
-- question: Which hospitals, garages and repairers had far more claims in the last 7 days than their daily average of the 28 days before?
SELECT
    provider_id,
    recent_claims,
    round(recent_claims / 7, 2) AS recent_per_day,
    round(baseline_claims / 28, 2) AS baseline_per_day,
    round((recent_claims / 7) / greatest(baseline_claims / 28, 0.1), 2) AS ratio
FROM
(
    WITH toDate((SELECT as_of FROM hub_clock)) AS as_of_day
    SELECT
        provider_id,
        sumIf(claims, day > as_of_day - 7) AS recent_claims,
        sumIf(claims, day <= as_of_day - 7) AS baseline_claims
    FROM provider_claim_volume_daily
    WHERE day > as_of_day - 35 AND day <= as_of_day
    GROUP BY provider_id
)
WHERE recent_claims >= 3
ORDER BY ratio DESC, provider_id ASC
LIMIT 50
