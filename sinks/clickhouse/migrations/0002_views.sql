-- Views: the questions risk and service teams ask, deduplicated so every count is exact
-- even before ReplacingMergeTree has merged the copies a redelivery may have landed.
-- FINAL where copies are guaranteed to share a partition (see 0001), GROUP BY the natural
-- id otherwise. Written in the SQL both ClickHouse 18.16 and current ClickHouse accept:
-- no window functions, no JSON functions, aggregates aliased under new names.

-- The hub's "now" for windows (last 30 days, overdue by): the newest event time landed, or
-- the wall clock if that is earlier (a future-dated event cannot move it). Live, this is
-- seconds behind now(); on a replay or backfill the windows still read as of the data.
CREATE VIEW IF NOT EXISTS hub_clock AS
SELECT least(now(), max(occurred_at)) AS as_of
FROM events;

-- Accepted input events, one row per event_id.
CREATE VIEW IF NOT EXISTS events_unique AS
SELECT
    event_id, domain, event_type, customer_id, occurred_at, source,
    policy_id, claim_id, case_id, application_id, quote_id, provider_id,
    product_line, segment, channel, category, decision, nps_score, claimed_amount,
    paid_amount, premium, person_key, name_hmac, phone_hmac, payload, topic
FROM events FINAL;

-- The current profile of each customer (highest version).
CREATE VIEW IF NOT EXISTS customer_profile_current AS
SELECT
    customer_id, version, person_key, segment, active_policies, product_lines,
    total_annual_premium, total_sum_assured, next_renewal_due, latest_decision, rated,
    exclusion, pending_applications, claims_total, claims_open, claims_paid_amount,
    last_claim_at, claims_30d, claims_90d, claims_365d, open_inquiries, complaints_90d,
    last_nps, last_contact_at, sla_breaches_90d, anomaly_flags, first_seen_at, last_event_at
FROM customer_profile FINAL;

-- One row per SLA obligation that has an outcome: met, completed_late, or breached (past
-- its deadline and still open). decided_on is the day its fate was sealed: the completion
-- day when met, the deadline day otherwise.
CREATE VIEW IF NOT EXISTS sla_obligations AS
SELECT
    rule,
    subject_id,
    customer_id,
    segment,
    started_at,
    deadline_at,
    multiIf(n_met > 0, 'met', n_late > 0, 'completed_late', 'breached') AS status,
    completed_at,
    duration_seconds,
    limit_seconds,
    toDate(if(n_met > 0, assumeNotNull(completed_at), deadline_at)) AS decided_on
FROM
(
    SELECT
        rule,
        subject_id,
        any(o_customer_id) AS customer_id,
        any(o_segment) AS segment,
        min(o_started_at) AS started_at,
        min(o_deadline_at) AS deadline_at,
        countIf(o_status = 'met') AS n_met,
        countIf(o_status = 'completed_late') AS n_late,
        max(o_completed_at) AS completed_at,
        max(o_duration_seconds) AS duration_seconds,
        max(o_limit_seconds) AS limit_seconds
    FROM
    (
        SELECT
            rule, subject_id, customer_id AS o_customer_id, segment AS o_segment,
            started_at AS o_started_at, deadline_at AS o_deadline_at, status AS o_status,
            completed_at AS o_completed_at, duration_seconds AS o_duration_seconds,
            limit_seconds AS o_limit_seconds
        FROM sla_outcome
        UNION ALL
        SELECT
            rule, subject_id, customer_id AS o_customer_id, segment AS o_segment,
            started_at AS o_started_at, deadline_at AS o_deadline_at, status AS o_status,
            completed_at AS o_completed_at, duration_seconds AS o_duration_seconds,
            limit_seconds AS o_limit_seconds
        FROM sla_breach
    )
    GROUP BY rule, subject_id
);

-- SLA attainment per rule and day: obligations decided that day, the share met, breaches,
-- and the median and 90th percentile time to complete (completed obligations only).
CREATE VIEW IF NOT EXISTS sla_attainment_daily AS
SELECT
    rule,
    decided_on AS day,
    count() AS obligations,
    countIf(status = 'met') AS met,
    countIf(status != 'met') AS breaches,
    round(countIf(status = 'met') / count(), 4) AS share_met,
    quantileExactIf(0.5)(ifNull(duration_seconds, 0), isNotNull(duration_seconds)) AS p50_seconds,
    quantileExactIf(0.9)(ifNull(duration_seconds, 0), isNotNull(duration_seconds)) AS p90_seconds
FROM sla_obligations
GROUP BY rule, day;

-- Breaches still open now: past the deadline, not completed (overdue as of hub_clock).
CREATE VIEW IF NOT EXISTS sla_open_breaches AS
WITH (SELECT as_of FROM hub_clock) AS as_of
SELECT
    rule,
    subject_id,
    customer_id,
    segment,
    started_at,
    deadline_at,
    limit_seconds,
    dateDiff('second', deadline_at, as_of) AS overdue_seconds
FROM sla_obligations
WHERE status = 'breached';

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
FROM events FINAL
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
FROM events FINAL
WHERE domain = 'claims'
  AND event_type = 'claim_reported'
  AND provider_id != ''
GROUP BY provider_id, day;

-- The latest version of each claim anomaly.
CREATE VIEW IF NOT EXISTS claim_anomaly_latest AS
SELECT
    anomaly_id,
    argMax(kind, detected_at) AS kind,
    argMax(subject_type, detected_at) AS subject_type,
    argMax(subject_id, detected_at) AS subject_id,
    argMax(window_start, detected_at) AS window_start,
    argMax(window_end, detected_at) AS window_end,
    argMax(observed, detected_at) AS observed,
    argMax(expected, detected_at) AS expected,
    argMax(score, detected_at) AS score,
    argMax(evidence_claim_ids, detected_at) AS evidence_claim_ids,
    max(detected_at) AS last_detected_at
FROM claim_anomaly
GROUP BY anomaly_id;

-- Customers ranked by their strongest anomaly score (add LIMIT n).
CREATE VIEW IF NOT EXISTS top_anomalous_customers AS
SELECT
    subject_id AS customer_id,
    max(score) AS max_score,
    count() AS anomalies,
    arraySort(groupUniqArray(kind)) AS kinds,
    max(last_detected_at) AS last_detected
FROM claim_anomaly_latest
WHERE subject_type = 'customer'
GROUP BY subject_id
ORDER BY max_score DESC, customer_id ASC;

-- Dead letters, one row per original record and origin.
CREATE VIEW IF NOT EXISTS dead_letter_unique AS
SELECT
    topic,
    source_partition,
    source_offset,
    origin,
    any(error_kind) AS error_kind,
    any(field) AS field,
    any(reason) AS reason,
    any(record_key) AS record_key,
    any(value) AS value,
    any(value_size) AS value_size,
    any(value_sha256) AS value_sha256,
    min(received_at) AS received_at
FROM dead_letter
GROUP BY topic, source_partition, source_offset, origin;
