-- One verdict per input record: an event in `events_unique` or a dead letter, never both.
-- The sink lands only records that pass the worker's own acceptance test (streams/ingest.py),
-- so `events` and `dead_letter` overlap only where the worker refused a record for a reason
-- its state alone knows (too_late: older than the ids it remembers; processing_error;
-- output_too_large). The views below leave those out by their worker dead letter, and the
-- views that count events read the deduplicated, accepted ones.

DROP TABLE IF EXISTS claim_frequency;
DROP TABLE IF EXISTS provider_claim_volume_daily;
DROP TABLE IF EXISTS events_unique;

-- Accepted input events, one row per event_id.
CREATE VIEW IF NOT EXISTS events_unique AS
SELECT
    event_id, domain, event_type, customer_id, occurred_at, source,
    policy_id, claim_id, case_id, application_id, quote_id, provider_id,
    product_line, segment, channel, category, decision, nps_score, claimed_amount,
    paid_amount, premium, person_key, name_hmac, phone_hmac, payload, topic
FROM events FINAL
WHERE (topic, kafka_partition, kafka_offset) NOT IN (
    SELECT topic, source_partition, source_offset FROM dead_letter WHERE origin = 'worker'
);

-- Claims per customer over the 30, 90 and 365 days up to hub_clock (claims reported,
-- counted by claim_id).
CREATE VIEW IF NOT EXISTS claim_frequency AS
WITH (SELECT as_of FROM hub_clock) AS as_of
SELECT
    customer_id,
    uniqExactIf(claim_id, occurred_at > as_of - 30 * 86400) AS claims_30d,
    uniqExactIf(claim_id, occurred_at > as_of - 90 * 86400) AS claims_90d,
    uniqExact(claim_id) AS claims_365d,
    max(occurred_at) AS last_claim_at,
    any(as_of) AS as_of_time
FROM events_unique
WHERE domain = 'claims'
  AND event_type = 'claim_reported'
  AND occurred_at > as_of - 365 * 86400
  AND occurred_at <= as_of
GROUP BY customer_id;

-- Claims reported per provider (hospital, garage, repairer) and day.
CREATE VIEW IF NOT EXISTS provider_claim_volume_daily AS
SELECT
    provider_id,
    toDate(occurred_at) AS day,
    uniqExact(claim_id) AS claims,
    uniqExact(customer_id) AS customers,
    sum(ifNull(claimed_amount, toDecimal64(0, 2))) AS claimed_amount
FROM events_unique
WHERE domain = 'claims'
  AND event_type = 'claim_reported'
  AND provider_id != ''
GROUP BY provider_id, day;
