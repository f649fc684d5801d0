-- title: Top customers by anomaly score
-- team: risk
-- question: Which customers carry the strongest claim-risk signals (high claim frequency, claims soon after the policy started)?
SELECT
    a.customer_id,
    a.max_score,
    a.anomalies,
    a.kinds,
    a.last_detected,
    p.segment,
    p.claims_total,
    p.claims_paid_amount
FROM top_anomalous_customers AS a
LEFT JOIN customer_profile_current AS p ON p.customer_id = a.customer_id
ORDER BY a.max_score DESC, a.customer_id ASC
LIMIT 20
