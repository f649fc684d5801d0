-- insurance-hub analytics tables (ClickHouse 18.16 and current ClickHouse).
--
-- Deduplication: the sink delivers at least once (offsets are committed after ClickHouse
-- acknowledged the insert), so a crash between insert and commit lands some rows twice.
-- ClickHouse 18.16 has no insert deduplication for non-replicated tables, hence
-- ReplacingMergeTree keyed (ORDER BY) by each record's natural id. Background merges drop
-- the duplicates eventually, and only within one partition; the views in 0002 deduplicate
-- at query time (FINAL or GROUP BY the id), so counts are exact before any merge.
-- Every partition key below is derived from a field that is identical in all copies of a
-- record, so copies always share a partition and FINAL sees them together.
--
-- Personal data: names, phone numbers and ID numbers never reach these tables. The sink
-- stores HMAC-SHA256 hashes keyed by HUB_PII_KEY instead (see sinks/clickhouse/rows.py).
--
-- Not used on purpose, because 18.16 lacks them: LowCardinality, DateTime64, Map, TTL.
-- Times are DateTime (UTC, whole seconds); the millisecond originals stay in `payload`.

-- Every accepted input event of the four source topics, one row per event_id.
CREATE TABLE IF NOT EXISTS events
(
    event_id        String,
    domain          String,              -- sales | underwriting | claims | servicing
    event_type      String,
    customer_id     String,
    occurred_at     DateTime,
    source          String,
    policy_id       String,              -- '' when the event has none
    claim_id        String,
    case_id         String,
    application_id  String,
    quote_id        String,
    provider_id     String,
    product_line    String,
    segment         String,              -- customer_segment of sales events
    channel         String,
    category        String,              -- servicing: inquiry topic, complaint category, change kind
    decision        String,              -- underwriting: standard, rated, exclusion, declined, postponed
    nps_score       Nullable(UInt8),     -- servicing: survey answers
    claimed_amount  Nullable(Decimal(18, 2)),
    paid_amount     Nullable(Decimal(18, 2)),
    premium         Nullable(Decimal(18, 2)),
    person_key      String,              -- HMAC-SHA256(id_number); equals customer_profile.person_key
    name_hmac       String,              -- HMAC-SHA256(customer_name)
    phone_hmac      String,              -- HMAC-SHA256(phone)
    payload         String,              -- the whole event as JSON, personal data replaced by hashes
    topic           String,              -- Kafka coordinates of the landed copy
    kafka_partition UInt32,
    kafka_offset    UInt64,
    landed_at       DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (domain, event_type, customer_id, event_id);

-- The customer 360 profile, every version the hub published; the highest version wins.
-- Not partitioned by time on purpose: every column that could carry a month
-- (last_event_at, first_seen_at, ...) changes between versions of one customer, and
-- ReplacingMergeTree only replaces rows within one partition, so a time partition would keep
-- old versions alive forever. ORDER BY customer_id serves the point lookups of the 360 view.
CREATE TABLE IF NOT EXISTS customer_profile
(
    customer_id          String,
    version              UInt64,
    person_key           String,
    segment              String,
    active_policies      UInt32,
    product_lines        Array(String),
    total_annual_premium Decimal(18, 2),
    total_sum_assured    Decimal(18, 2),
    next_renewal_due     Nullable(Date),
    latest_decision      String,
    rated                UInt8,
    exclusion            UInt8,
    pending_applications UInt32,
    claims_total         UInt32,
    claims_open          UInt32,
    claims_paid_amount   Decimal(18, 2),
    last_claim_at        Nullable(DateTime),
    claims_30d           UInt32,
    claims_90d           UInt32,
    claims_365d          UInt32,
    open_inquiries       UInt32,
    complaints_90d       UInt32,
    last_nps             Nullable(UInt8),
    last_contact_at      Nullable(DateTime),
    sla_breaches_90d     UInt32,
    anomaly_flags        Array(String),
    first_seen_at        DateTime,
    last_event_at        DateTime,
    topic                String,
    kafka_partition      UInt32,
    kafka_offset         UInt64,
    landed_at            DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
ORDER BY customer_id;

-- SLA obligations that missed their deadline: `breached` when the deadline passed while open,
-- `completed_late` when finally done. breach_id is stable per (rule, subject, status).
-- Partitioned by started_at, which never changes for an obligation (detected_at may).
CREATE TABLE IF NOT EXISTS sla_breach
(
    breach_id        String,
    rule             String,
    status           String,             -- breached | completed_late
    segment          String,
    customer_id      String,
    subject_id       String,             -- claim_id, case_id or policy_id
    started_at       DateTime,
    deadline_at      DateTime,
    detected_at      DateTime,
    completed_at     Nullable(DateTime),
    duration_seconds Nullable(Int64),
    limit_seconds    Int64,
    topic            String,
    kafka_partition  UInt32,
    kafka_offset     UInt64,
    landed_at        DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(started_at)
ORDER BY (rule, status, breach_id);

-- Every closed SLA obligation (met or completed_late), from insurance.sla-outcome.v1:
-- with sla_breach it gives attainment (met share) per rule and day.
CREATE TABLE IF NOT EXISTS sla_outcome
(
    outcome_id       String,             -- stable per (rule, subject, status)
    rule             String,
    status           String,             -- met | completed_late
    segment          String,
    customer_id      String,
    subject_id       String,
    started_at       DateTime,
    deadline_at      DateTime,
    detected_at      DateTime,
    completed_at     Nullable(DateTime),
    duration_seconds Nullable(Int64),
    limit_seconds    Int64,
    topic            String,
    kafka_partition  UInt32,
    kafka_offset     UInt64,
    landed_at        DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(started_at)
ORDER BY (rule, status, outcome_id);

-- Claim risk signals. The worker may re-publish an anomaly_id with newer figures (a provider
-- spike grows during its day); detected_at is the version and the views take the latest per
-- id with GROUP BY, which is exact whatever partition each version landed in.
CREATE TABLE IF NOT EXISTS claim_anomaly
(
    anomaly_id         String,
    kind               String,           -- high_frequency_customer | provider_spike | early_claim
    subject_type       String,           -- customer | provider | claim
    subject_id         String,
    window_start       DateTime,
    window_end         DateTime,
    observed           Float64,
    expected           Float64,
    score              Float64,
    evidence_claim_ids Array(String),
    detected_at        DateTime,
    topic              String,
    kafka_partition    UInt32,
    kafka_offset       UInt64,
    landed_at          DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(detected_at)
PARTITION BY toYYYYMM(detected_at)
ORDER BY (subject_type, kind, anomaly_id);

-- Records the hub refused, one row per original Kafka record:
-- origin 'worker': input records the worker dead-lettered (malformed, schema_invalid, ...);
-- origin 'sink': records whose row ClickHouse rejected, with ClickHouse's error message.
-- `value` never holds personal data: it is the record as JSON with names, phone numbers and
-- ID numbers replaced by their HMAC, or '' when the bytes cannot be read as a record (then
-- only value_size and value_sha256 identify it; the bytes stay on the dead-letter topic).
CREATE TABLE IF NOT EXISTS dead_letter
(
    topic            String,             -- the original record's topic
    source_partition UInt32,
    source_offset    UInt64,
    origin           String,             -- worker | sink
    error_kind       String,             -- malformed, unknown_schema, schema_invalid, ..., clickhouse_rejected
    field            String,
    reason           String,
    record_key       String,
    value            String,
    value_size       UInt32,
    value_sha256     String,
    received_at      DateTime,
    kafka_topic      String,             -- where the sink read it
    kafka_partition  UInt32,
    kafka_offset     UInt64,
    landed_at        DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(received_at)
ORDER BY (topic, source_partition, source_offset, origin);
