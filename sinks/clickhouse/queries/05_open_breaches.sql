-- title: Open SLA breaches now, most overdue first
-- team: service
-- question: Which claims, cases and renewals are past their deadline and still not done, and who owns them?
SELECT
    rule,
    subject_id,
    customer_id,
    segment,
    started_at,
    deadline_at,
    round(overdue_seconds / 3600, 1) AS hours_overdue
FROM sla_open_breaches
ORDER BY overdue_seconds DESC, rule ASC, subject_id ASC
LIMIT 100
