-- title: What the hub refused, by topic and reason
-- team: service
-- question: Which sources send records the hub cannot accept, and why (last 7 days)?
SELECT
    topic,
    origin,
    error_kind,
    field,
    count() AS records,
    max(received_at) AS last_seen,
    any(reason) AS example_reason
FROM dead_letter_unique
WHERE received_at >= now() - INTERVAL 7 DAY
GROUP BY topic, origin, error_kind, field
ORDER BY records DESC, topic ASC, error_kind ASC, field ASC
