-- title: Who claims too often
-- team: risk
-- question: Which customers reported the most claims in the last 90 days, relative to the policies they hold?
SELECT
    f.customer_id,
    f.claims_30d,
    f.claims_90d,
    f.claims_365d,
    p.active_policies,
    round(f.claims_90d / greatest(p.active_policies, 1), 2) AS claims_90d_per_policy,
    p.segment,
    f.last_claim_at
FROM claim_frequency AS f
LEFT JOIN customer_profile_current AS p ON p.customer_id = f.customer_id
WHERE f.claims_90d >= 2
ORDER BY claims_90d_per_policy DESC, f.claims_90d DESC, f.customer_id ASC
LIMIT 50
