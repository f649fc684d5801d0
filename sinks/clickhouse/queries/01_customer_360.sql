-- title: A customer's full picture (360 view)
-- team: service
-- question: Before calling a customer back, what do we know: policies, claims, open cases, SLA breaches, risk flags?
-- params: customer_id
SELECT
    customer_id,
    segment,
    active_policies,
    product_lines,
    total_annual_premium,
    next_renewal_due,
    latest_decision,
    claims_total,
    claims_open,
    claims_paid_amount,
    open_inquiries,
    complaints_90d,
    last_nps,
    anomaly_flags,
    (SELECT count() FROM events_unique WHERE customer_id = %(customer_id)s) AS events,
    (SELECT count() FROM sla_open_breaches WHERE customer_id = %(customer_id)s) AS open_breaches,
    (SELECT count() FROM sla_obligations WHERE customer_id = %(customer_id)s AND status != 'met') AS sla_breaches_total,
    last_event_at
FROM customer_profile_current
WHERE customer_id = %(customer_id)s
