"""`hub worker`: the Faust app that joins the four input topics per customer.

Data path: input topic → decode (or dead-letter) → CustomerProcessor → customers table →
profile, SLA and anomaly topics. The inputs are co-partitioned by customer_id, so one agent
sees every event of a customer and no repartition hop is needed; claims are forwarded by
provider_id to a second agent for provider spikes.

Event time is watched per partition: the watermark is the newest event time minus the
allowed lateness, and a tick record (one per partition per second, sent by this worker to
its own partitions) advances it by wall time while the partition is idle. Ticks travel
through Kafka so that a deadline fired by the wall clock is processed, like any event, in
its partition's context and offset order.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import faust
from faust.types import TP

from schemas.codec import Codec
from streams.domain.anomaly.detect import AnomalyConfig
from streams.domain.anomaly.provider import ForwardedClaim, ProviderState, on_claim
from streams.domain.customer import CustomerState, profile_record
from streams.domain.processor import ANOMALY, BREACH, OUTCOME, PROFILE, CustomerProcessor, Result
from streams.domain.sla.engine import next_deadline
from streams.domain.sla.rules import RuleSet, load_rules
from streams.events import DOMAINS, normalise
from streams.ingest import TOO_LATE, Rejection, TimeBounds, accept, bounded_dead_letter
from streams.ops.topics import topic_name
from streams.settings import Settings
from streams.worker import outbox
from streams.worker.faust_app import HubApp, HubTable
from streams.worker.metrics import WorkerMetrics
from streams.worker.outbox import Output, Source
from streams.worker.watermark import PartitionClock

log = logging.getLogger("insurance_hub.worker")

#: Largest state row or output record written: under the producer's 1 MB request size with
#: room for the record's headers (customer states are far smaller, see customer.STATE_CAPS).
MAX_WRITE_BYTES = 900_000
PROCESSING = "processing_error"
OUTPUT_TOO_LARGE = "output_too_large"
CLOCK_SAVE_INTERVAL_MS = 1000  # a partition's clock is saved to its table this often at most
OUTPUT_TOPICS = {
    PROFILE: "insurance.customer-profile.v1",
    BREACH: "insurance.sla-breach.v1",
    OUTCOME: "insurance.sla-outcome.v1",
    ANOMALY: "insurance.claim-anomaly.v1",
}
DEAD_LETTER = "insurance.dead-letter.v1"
PROVIDER_CLAIM = "provider-claim"  # a claim forwarded to the provider agent (an outbox output)
#: The worker's Faust tables. Each has a changelog topic ``<app id>-<table>-changelog``, which
#: ensure_worker_topics creates before the worker joins its group.
WORKER_TABLES = ("customers", "clocks", "providers")


def _raw() -> faust.Schema:
    """Bytes in, bytes out (one object per topic/table: Faust mutates schemas it is given)."""
    return faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


class HubWorker:
    def __init__(
        self,
        settings: Settings,
        rules: RuleSet | None = None,
        anomalies: AnomalyConfig | None = None,
    ) -> None:
        self.settings = settings
        self.rules = rules or load_rules()
        self.anomaly_cfg = anomalies or AnomalyConfig.load()
        self.codec = Codec()
        self.bounds = TimeBounds.of(self.rules)
        self.metrics = WorkerMetrics()
        self.processor = CustomerProcessor(self.rules, self.anomaly_cfg, settings.pii_key.encode())
        self.clocks: dict[int, PartitionClock] = {}
        self.positions: dict[tuple[str, int], int] = {}  # next offset to process, per input TP
        self.ends: dict[tuple[str, int], int] = {}  # broker end offsets (see _refresh_ends)
        self.ends_wall_ms = 0  # when they were read
        self.ends_stale_ms = int(3000 * max(1.0, settings.worker.tick_interval_s))
        self.owned: set[tuple[str, int]] = set()  # partitions assigned at the last rebalance
        partitions = settings.kafka.input_partitions
        datadir = worker_datadir(settings)
        datadir.parent.mkdir(parents=True, exist_ok=True)
        self.app = HubApp(
            settings.worker.app_id,
            broker=f"kafka://{settings.kafka.bootstrap}",
            store="rocksdb://",
            datadir=str(datadir),
            topic_partitions=partitions,
            topic_replication_factor=settings.kafka.replication_factor,
            web_enabled=False,
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            stream_buffer_maxsize=8192,
            producer_linger_ms=settings.worker.producer_linger_ms,
            table_standby_replicas=0,
            Table=HubTable,  # changelog records acknowledged before offsets are committed
            # Every topic and table holds bytes; the hub's own codec does the encoding.
            key_serializer="raw",
            value_serializer="raw",
        )
        prefix = settings.kafka.topic_prefix
        self.domain_of = {topic_name(f"insurance.{d}.v1", prefix): d for d in DOMAINS}
        # The worker's own topics, co-partitioned with the inputs (see ensure_worker_topics).
        self.tick_topic_name = f"{prefix}{settings.worker.app_id}-ticks"
        self.provider_topic_name = f"{prefix}{settings.worker.app_id}-provider-claims"
        self.inputs = self.app.topic(*self.domain_of, self.tick_topic_name, schema=_raw())
        self.ticks = self.app.topic(self.tick_topic_name, partitions=partitions, schema=_raw())
        self.provider_claims = self.app.topic(
            self.provider_topic_name, partitions=partitions, schema=_raw()
        )
        # Output topic names; records go straight to the producer (see _produce).
        self.output_names = {out: prefix + logical for out, logical in OUTPUT_TOPICS.items()}
        self.dead_letter_name = topic_name(DEAD_LETTER, prefix)
        self.customers, self.clock_table, self.providers = (
            self.app.Table(name, partitions=partitions, key_type=bytes, value_type=bytes)
            for name in WORKER_TABLES
        )
        self.customers.on_recover(self._rebuild)
        self.app.agent(self.inputs, name="customers")(self._customer_agent)
        self.app.agent(self.provider_claims, name="providers")(self._provider_agent)
        self.app.timer(settings.worker.tick_interval_s)(self._send_ticks)
        self.app.timer(settings.worker.tick_interval_s)(self._refresh_ends)

    # -- customer agent -------------------------------------------------------------

    async def _customer_agent(self, stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            self.positions[(msg.topic, msg.partition)] = msg.offset + 1
            if msg.topic == self.tick_topic_name:
                source = (msg.topic, msg.partition, msg.offset)
                await self._advance(source, int(event.value or b"0"))
            else:
                try:
                    await self._on_input(msg, event.key, event.value)
                except Exception as exc:  # one bad record must not stop every customer
                    log.exception(
                        "processing failed at %s[%d]@%d", msg.topic, msg.partition, msg.offset
                    )
                    reason = f"{type(exc).__name__}: {exc}"
                    await self._dead(
                        msg, event.key, event.value, Rejection(PROCESSING, None, reason)
                    )

    async def _on_input(self, msg: Any, key: bytes | None, value: bytes | None) -> None:
        domain = self.domain_of[msg.topic]
        record_ms = round(msg.timestamp * 1000) if msg.timestamp else int(time.time() * 1000)
        verdict = accept(self.codec, f"insurance.{domain}.v1", key, value, record_ms, self.bounds)
        if isinstance(verdict, Rejection):
            await self._dead(msg, key, value, verdict)
            return
        ev = normalise(domain, verdict)
        t = ev["occurred_at"]
        clock = self._clock(msg.partition)
        if clock.watermark_ms and t < clock.watermark_ms - self.rules.dedup_horizon_ms:
            # Older than the ids we remember: it could be a duplicate we can no longer detect.
            reason = "older than the dedup horizon behind the watermark"
            await self._dead(msg, key, value, Rejection(TOO_LATE, "occurred_at", reason))
            return
        state = self._load(ev["customer_id"])
        res = self.processor.on_event(state, ev, clock.watermark_ms)
        source = (msg.topic, msg.partition, msg.offset)
        if res.duplicate:
            self.metrics.duplicates.labels(domain).inc()
            # Idempotent, and after a crash the first copy's profile may never have left.
            await self._send_profile(res.state)
        else:
            if not await self._commit(source, res, clock):
                reason = "the customer's state or an output record would exceed Kafka's limit"
                await self._dead(msg, key, value, Rejection(OUTPUT_TOO_LARGE, None, reason))
                return
            if state is None:
                self.metrics.profiles.inc()
            for part, n in res.pruned.items():
                self.metrics.state_pruned.labels(part).inc(n)
            self.metrics.events.labels(domain, ev["event_type"]).inc()
            self.metrics.event_lag.observe(max(0.0, time.time() - t / 1000))
            self.metrics.processing.observe(max(0.0, time.time() - msg.timestamp))
        # Advance event time, a duplicate's too (a replay after a takeover re-reads how far the
        # topic had got); what this makes overdue is breached now, in offset order.
        wall = int(time.time() * 1000)
        clock.observe(msg.topic, t, wall)
        await self._advance(source, wall)

    def _clock(self, partition: int) -> PartitionClock:
        clock = self.clocks.get(partition)
        if clock is None:
            clock = self.clocks[partition] = PartitionClock()
        return clock

    def _lag(self, topic: str, partition: int) -> int | None:
        """Records of an input partition not processed yet (None: not known).

        The end is the newer of the broker's (`_refresh_ends`) and the last fetch's; the
        position is the next offset to process, or the committed one before the first record.
        """
        key = (topic, partition)
        try:
            fetched = self.app.consumer.highwater(TP(topic, partition))
        except (AssertionError, KeyError):  # not assigned (any more)
            fetched = None
        end = max(-1 if fetched is None else fetched, self.ends.get(key, -1))
        done = self.positions.get(key, self.app.committed.get(key))
        if end < 0 or done is None:
            return None
        return max(0, end - done)

    def _backlog(self, partition: int, wall_ms: int) -> list[str]:
        """Input topics of `partition` with records not processed yet (unknown: a backlog)."""
        if wall_ms - self.ends_wall_ms > self.ends_stale_ms:
            return list(self.domain_of)  # no fresh end offsets: nothing counts as caught up
        return [t for t in self.domain_of if self._lag(t, partition) != 0]

    async def _advance(self, source: Source, wall_ms: int) -> None:
        """Breaches are attributed to `source`, the event or tick that moved the watermark."""
        partition = source[1]
        clock = self._clock(partition)
        rules = self.rules
        watermark_ms = clock.candidate(
            wall_ms,
            rules.allowed_lateness_ms,
            self._backlog(partition, wall_ms),
            rules.quiet_ms,
            rules.live_horizon_ms,
        )
        if wall_ms - clock.saved_wall_ms >= CLOCK_SAVE_INTERVAL_MS:
            # What a worker taking the partition over starts from (see _rebuild).
            clock.saved_wall_ms = wall_ms
            self.clock_table[f"p{partition}".encode()] = json.dumps(
                {
                    "topic_max": clock.topic_max,
                    "watermark_ms": max(watermark_ms, clock.watermark_ms),
                }
            ).encode()
        if watermark_ms <= clock.watermark_ms:
            return
        clock.watermark_ms = watermark_ms
        self.metrics.watermark.labels(str(partition)).set(watermark_ms / 1000)
        while clock.deadlines and clock.deadlines[0][0] < watermark_ms:
            _, customer_id = heapq.heappop(clock.deadlines)
            state = self._load(customer_id)
            if state is None:
                continue
            res = self.processor.on_watermark(state, watermark_ms)
            if res.changed:
                await self._commit(source, res, clock)
            else:  # its deadline moved (segment now known): wait for the new one
                due = next_deadline(state.obligations, state.segment)
                if due is not None:
                    heapq.heappush(clock.deadlines, (due, customer_id))

    async def _commit(self, source: Source, res: Result, clock: PartitionClock) -> bool:
        """Send what the change produced, then write the state with those outputs in its outbox.

        Kafka keeps no order between the outputs' partitions and the changelog's: the outbox
        (outbox.py) lets whoever rebuilds this state re-send what may not have arrived.
        Everything is encoded first: a change whose state row or an output would not fit in
        a produce request sends and writes nothing (False; the caller dead-letters its input).
        """
        state = res.state
        state.partition = source[1]
        outputs: list[Output] = []
        for out, rec in res.outputs:
            outputs.append((out, state.customer_id if out != ANOMALY else rec["subject_id"], rec))
        if res.provider_claim:
            outputs.append((PROVIDER_CLAIM, res.provider_claim["provider_id"], res.provider_claim))
        encoded = [self._encode(*o) for o in outputs]
        encoded.append(self._encode_profile(state))
        state.outbox = outbox.after_change(state.outbox, self.app.committed, source, outputs)
        row = state.dumps()
        if len(row) > MAX_WRITE_BYTES or any(len(v) > MAX_WRITE_BYTES for _, _, v in encoded):
            log.error(
                "customer %r: change from %s[%d]@%d not applied, a record would be %d bytes",
                state.customer_id[:40], *source, max(len(row), *(len(v) for _, _, v in encoded)),
            )  # fmt: skip
            return False
        for out, rec in res.outputs:
            self._count(out, rec, res.revised)
        for topic, key, value in encoded:
            await self._produce(topic, key, value)
        self.customers[state.customer_id.encode()] = row
        due = next_deadline(state.obligations, state.segment)
        if due is not None:
            heapq.heappush(clock.deadlines, (due, state.customer_id))
        return True

    def _encode_profile(self, state: CustomerState) -> tuple[str, bytes, bytes]:
        return self._encode(PROFILE, state.customer_id, profile_record(state, state.last_event_ms))

    async def _send_profile(self, state: CustomerState) -> None:
        await self._produce(*self._encode_profile(state))

    def _count(self, out: str, record: dict[str, Any], revised: set[str]) -> None:
        """Metrics of one output (an anomaly's later versions are not new anomalies)."""
        status = record.get("status")
        if out == BREACH and status == "breached":
            self.metrics.outcome("breached", record["rule"], record["segment"])
        elif out == OUTCOME and status:
            self.metrics.outcome(status, record["rule"], record["segment"])
        elif out == ANOMALY and record["anomaly_id"] not in revised:
            self.metrics.anomalies.labels(record["kind"]).inc()

    def _encode(self, out: str, key: str, rec: dict[str, Any]) -> tuple[str, bytes, bytes]:
        """(topic, key, value) of one output record."""
        if out == PROVIDER_CLAIM:
            return self.provider_topic_name, key.encode(), json.dumps(rec).encode()
        # Records built here are the contract's by construction: encode without re-validating
        # (the encoder still refuses a value it cannot write).
        value = self.codec.encode(OUTPUT_TOPICS[out], rec, validate=False)
        return self.output_names[out], key.encode(), value

    async def _emit(self, out: str, key: str, rec: dict[str, Any]) -> None:
        await self._produce(*self._encode(out, key, rec))

    async def _produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Straight to the producer: Faust's Topic.send costs more than the record itself.

        Faust flushes this same producer before it commits offsets, so what an event
        produced is acknowledged before the event counts as processed.
        """
        await self.app.producer.send(topic, key, value, None, None, None)

    async def _dead(self, msg: Any, key: bytes | None, value: bytes | None, why: Rejection) -> None:
        """One dead letter per refused record, small enough to send whatever the record was."""
        kept, kept_key, size, sha256 = bounded_dead_letter(value, key)
        reason = why.reason[:2000]
        if size > len(kept):
            reason += f" [value: first {len(kept)} of {size} bytes kept; whole on the input topic]"
        record = {
            "value": kept,
            "key": kept_key,
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "reason": reason,
            "error_kind": why.kind,
            "field": why.field,
            "received_at": int(time.time() * 1000),
            "value_size": size,
            "value_sha256": sha256,
        }
        try:
            data = self.codec.encode(DEAD_LETTER, record, validate=False)
            await self._produce(self.dead_letter_name, kept_key, data)
        except Exception:  # never lets one record stop the agent; said loudly instead
            log.exception(
                "dead letter for %s[%d]@%d could not be sent", msg.topic, msg.partition, msg.offset
            )
            self.metrics.send_failures.inc()
            return
        self.metrics.dead_letters.labels(self.domain_of.get(msg.topic, msg.topic), why.kind).inc()
        log.warning(
            "dead letter %s[%d]@%d %s: %s", msg.topic, msg.partition, msg.offset, why.kind, reason
        )

    def _load(self, customer_id: str) -> CustomerState | None:
        raw = self.customers.get(customer_id.encode())
        return CustomerState.loads(raw) if raw is not None else None

    # -- recovery and ticks ---------------------------------------------------------

    async def _rebuild(self) -> None:
        """After a rebalance: deadline heaps and watermarks from the recovered tables, and
        the outputs a previous owner of the partitions may not have delivered."""
        actives = self.app.assignor.assigned_actives()
        assigned = {tp.partition for tp in actives if tp.topic == self.tick_topic_name}
        owned = {(tp.topic, tp.partition) for tp in actives}
        taken_over, self.owned = owned - self.owned, owned
        committed = await self.app.read_committed() if taken_over else {}
        resend: list[Output] = []
        # A partition kept through the rebalance keeps its clock, which is newer than the
        # saved copy; one taken over starts from what its previous owner saved.
        kept = {p: c for p, c in self.clocks.items() if (self.tick_topic_name, p) not in taken_over}
        self.clocks = {p: kept.get(p) or PartitionClock() for p in assigned}
        for tp in taken_over:  # read again from the committed offset (see _backlog)
            self.positions.pop(tp, None)
        for c in self.clocks.values():
            c.deadlines = []  # rebuilt from the customers below
        newest: dict[int, int] = {}  # newest event applied per partition
        count = 0
        for _, raw in self.customers.items():
            state = CustomerState.loads(raw)
            count += 1
            resend.extend(outbox.to_resend(state.outbox, committed, taken_over))
            newest[state.partition] = max(newest.get(state.partition, 0), state.last_event_ms)
            clock = self.clocks.get(state.partition)
            due = next_deadline(state.obligations, state.segment)
            if clock is not None and due is not None:
                clock.deadlines.append((due, state.customer_id))
        for clock in self.clocks.values():
            heapq.heapify(clock.deadlines)
        self._restore_clocks(set(self.clocks) - set(kept), newest)
        for _, raw in self.providers.items():
            stored = json.loads(raw).get("outbox", [])
            resend.extend(outbox.to_resend(stored, committed, taken_over))
        for out, key, rec in resend:
            # A forwarded claim says so: the provider agent may have counted it already.
            await self._emit(out, key, {**rec, "resent": True} if out == PROVIDER_CLAIM else rec)
        self.metrics.profiles.set(count)
        self.metrics.outbox_resent.inc(len(resend))
        log.info(
            "re-sent %d records a previous owner may not have delivered; "
            "recovered %d customers across partitions %s",
            len(resend),
            count,
            sorted(assigned),
        )

    def _restore_clocks(self, taken_over: set[int], newest: dict[int, int]) -> None:
        """Clocks of partitions taken over: the saved copies, clamped to the wall clock."""
        now = int(time.time() * 1000)
        saved = {int(k.decode()[1:]): json.loads(raw) for k, raw in self.clock_table.items()}
        for p in taken_over:
            copy = saved.get(p, {"topic_max": {}, "watermark_ms": 0})
            if self.clocks[p].restore(
                copy["topic_max"],
                copy["watermark_ms"],
                newest.get(p, 0),
                now,
                self.rules.allowed_lateness_ms,
            ):
                log.warning(
                    "partition %d: saved clock or a state was ahead of the wall clock (%s, "
                    "newest event %d); clamped",
                    p, copy, newest.get(p, 0),
                )  # fmt: skip
        for p in range(self.settings.kafka.input_partitions):  # the gauge shows owned ones only
            clock = self.clocks.get(p)
            if clock is not None and clock.watermark_ms:
                self.metrics.watermark.labels(str(p)).set(clock.watermark_ms / 1000)
            elif clock is None:
                with contextlib.suppress(KeyError):
                    self.metrics.watermark.remove(str(p))

    def _assigned(self, topic: str) -> set[TP]:
        return {tp for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    async def _send_ticks(self) -> None:
        now = str(int(time.time() * 1000)).encode()
        for tp in self._assigned(self.tick_topic_name):
            await self.ticks.send(key=b"tick", value=now, partition=tp.partition)
        self.metrics.open_obligations.set(sum(len(c.deadlines) for c in self.clocks.values()))

    async def _refresh_ends(self) -> None:
        """The broker's end offsets of the input partitions (what the watermark trusts to
        tell a caught-up topic: the consumer's own highwater is only as fresh as its last
        fetch, which stops during a rebalance), and the lag gauge from them."""
        tps = [tp for tp in self.app.assignor.assigned_actives() if tp.topic in self.domain_of]
        if not tps:
            return
        try:
            ends = await self.app.consumer.highwaters(*tps)
        except Exception as exc:  # a rebalance, a broker away: the snapshot ages instead
            log.debug("end offsets not read: %s", exc)
            return
        self.ends = {(tp.topic, tp.partition): off for tp, off in ends.items()}
        self.ends_wall_ms = int(time.time() * 1000)
        for tp in tps:
            lag = self._lag(tp.topic, tp.partition)
            if lag is not None:
                gauge = self.metrics.consumer_lag.labels(
                    self.domain_of[tp.topic], str(tp.partition)
                )
                gauge.set(lag)

    # -- provider agent -------------------------------------------------------------

    async def _provider_agent(self, stream: Any) -> None:
        """Provider spikes: domain/anomaly/provider.py judges, this agent stores and sends."""
        async for event in stream.events():
            msg = event.message
            claim = ForwardedClaim.from_record(json.loads(event.value))
            raw = self.providers.get(claim.provider_id.encode())
            state = ProviderState.loads(raw) if raw is not None else None
            # Claims come from every customer partition, which a backfill or a takeover can
            # set weeks of event time apart: the provider view takes them as late as the
            # customers' own dedup horizon.
            res = on_claim(state, claim, self.anomaly_cfg, self.rules.dedup_horizon_ms)
            if res.verdict == "too_late" and claim.resent:
                # Forwarded before the takeover, when it was not late; its day is forgotten
                # since, so whether it was counted then cannot be told. Said, not refused.
                log.info("re-sent claim %s older than provider %s's window", claim.claim_id,
                         claim.provider_id)  # fmt: skip
                self.metrics.duplicates.labels("provider-claims").inc()
                continue
            if res.verdict == "too_late":
                reason = "older than the provider's baseline window plus the dedup horizon"
                why = Rejection(TOO_LATE, "occurred_at", reason)
                await self._dead(msg, event.key, event.value, why)
                continue
            if res.verdict == "duplicate":
                continue  # forwarded twice (a replay or an outbox re-send): counted once
            outputs: list[Output] = [(ANOMALY, claim.provider_id, rec) for rec in res.records]
            for output in outputs:
                await self._emit(*output)
            # Versions of a spike are not new anomalies: count each anomaly_id once.
            self.metrics.anomalies.labels("provider_spike").inc(res.new_anomalies)
            res.state.outbox = outbox.after_change(
                res.state.outbox,
                self.app.committed,
                (msg.topic, msg.partition, msg.offset),
                outputs,
            )
            self.providers[claim.provider_id.encode()] = res.state.dumps()


def worker_datadir(settings: Settings) -> Path:
    """This worker's RocksDB directory (one per ``HUB_WORKER_ID`` under the state dir)."""
    return settings.state_dir / "worker" / settings.worker.worker_id


def run(settings: Settings) -> None:
    """Run one worker until it is stopped (SIGTERM/SIGINT)."""
    import mode.loop
    from faust.worker import Worker

    # uvloop: Faust's per-message cost is mostly event-loop callbacks (measured in bench/).
    mode.loop.use("uvloop")
    datadir = worker_datadir(settings)
    running = datadir.parent / f"{settings.worker.worker_id}.running"
    if running.exists():
        # Killed last time: local RocksDB may hold writes whose changelog records and
        # outputs never reached Kafka. Rebuild the tables from the changelog instead.
        log.warning("previous run did not stop cleanly: rebuilding tables from the changelog")
        shutil.rmtree(datadir, ignore_errors=True)
    datadir.parent.mkdir(parents=True, exist_ok=True)
    running.touch()
    worker = HubWorker(settings)
    worker.metrics.serve(settings.prometheus.metrics_host, settings.prometheus.worker_metrics_port)
    try:
        Worker(worker.app, loglevel="info", quiet=True).execute_from_commandline()
    finally:
        running.unlink(missing_ok=True)  # reached on a clean stop (SIGTERM/SIGINT), not on SIGKILL


def ensure_worker_topics(settings: Settings) -> None:
    """The hub's topics plus every topic of the worker's own, before it joins its group.

    The worker's own are co-partitioned with the inputs: ticks, provider claims, and the
    changelog of each table in WORKER_TABLES, compacted, named and configured as Faust would
    (``<app id>-<table>-changelog``: Faust puts no topic prefix in front); also Faust's
    one-partition leader topic. Faust would create what is missing itself, but on a fresh
    broker the group leader's metadata may then lack a changelog, and every write to its
    table raises PartitionsMismatch until a metadata refresh minutes later.
    """
    from streams.ops.topics import TopicSpec, create_topics, ensure_topics

    create_topics(settings)
    k = settings.kafka
    prefix, app_id = k.topic_prefix, settings.worker.app_id
    own: list[tuple[str, int, dict[str, str]]] = [
        (f"{prefix}{app_id}-ticks", k.input_partitions, {}),
        (f"{prefix}{app_id}-provider-claims", k.input_partitions, {}),
        (f"{prefix}{OUTPUT_TOPICS[OUTCOME]}", k.input_partitions, {}),
        *(
            (f"{app_id}-{table}-changelog", k.input_partitions, {"cleanup.policy": "compact"})
            for table in WORKER_TABLES
        ),
        (f"{app_id}-__assignor-__leader", 1, {}),
    ]
    ensure_topics(
        settings,
        [TopicSpec(name, name, n, k.replication_factor, configs) for name, n, configs in own],
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("worker", help="run the streaming worker (profiles, SLAs, anomalies)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    ensure_worker_topics(settings)
    run(settings)
    return 0
