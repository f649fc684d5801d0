"""`hub worker`: the Faust app that joins the four input topics per customer.

Topology (the data path in order):

- **sources**: the four input topics and the worker's tick topic, co-partitioned by
  customer_id (so one process sees every event of a customer and no repartition hop is
  needed), handed over by the consumer a partition's fetched batch at a time
  (faust_app.py); claims forwarded by provider_id, read by a Faust agent;
- **decode**: streams/ingest.py turns bytes into an event or a refusal (a dead letter);
- **agents**: streams/domain/ decides what an event does (a pure function of the state and
  the event), event_time.py when the watermark has made a deadline overdue;
- **state**: hot customer states as objects (state_cache.py), written to the ``customers``
  table once per commit; ``clocks`` and ``providers`` tables (RocksDB, Kafka changelogs);
- **outputs**: SLA and anomaly records sent by emit.py as they happen, kept in the state's
  outbox (outbox.py) until their input is committed; a changed customer's profile leaves
  once per ``HUB_WORKER_PROFILE_FLUSH_SECONDS`` (and before every commit), at its latest
  version.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import TP

from schemas.codec import Codec
from schemas.topics import BY_DOMAIN
from streams.domain.anomaly.detect import AnomalyConfig
from streams.domain.anomaly.provider import ForwardedClaim, ProviderState, on_claim
from streams.domain.customer import CustomerState, profile_record
from streams.domain.processor import ANOMALY, BREACH, OUTCOME, PROFILE, CustomerProcessor, Result
from streams.domain.sla.engine import next_deadline
from streams.domain.sla.rules import RuleSet, load_rules
from streams.events import Event, normalise
from streams.ingest import TOO_LATE, Rejection, TimeBounds, accept
from streams.settings import Settings
from streams.worker import outbox, recovery
from streams.worker.emit import PROVIDER_CLAIM, Emitter, output
from streams.worker.event_time import EventTime, wall_ms
from streams.worker.faust_app import HubApp, HubTable
from streams.worker.metrics import WorkerMetrics
from streams.worker.outbox import Output, Source
from streams.worker.state_cache import StateCache
from streams.worker.topics import WORKER_TABLES, provider_topic, tick_topic

log = logging.getLogger("insurance_hub.worker")

#: Largest state row or output record written: under the producer's 1 MB request size with
#: room for the record's headers (customer states are far smaller, see customer.STATE_CAPS).
MAX_WRITE_BYTES = 900_000
PROCESSING = "processing_error"
OUTPUT_TOO_LARGE = "output_too_large"
#: Bytes of one produce batch per partition. aiokafka holds one open batch per partition and
#: makes ``send`` wait for the broker once it is full: at its 16 KiB default, a burst of
#: profiles waited for a round trip every ~30 records.
PRODUCER_BATCH_BYTES = 512 * 1024
#: Each table partition is its own RocksDB: Faust's defaults (3 write buffers of 64 MiB and
#: a 2 GiB block cache each) let 18 of them grow past 2 GiB of RSS at a million customers.
#: The hot customers live in the state cache; RocksDB only needs room to absorb a commit.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 16 * 1024 * 1024,
}
#: Changelog records in flight past which the worker waits for the broker's acknowledgements.
MAX_UNACKNOWLEDGED = 20_000
#: Records processed between two turns of the event loop: sends rarely wait, so without
#: this a batch would hold back the timers (profile flush, ticks, commits) until its end.
YIELD_EVERY = 200
#: Profiles waiting to leave that make the worker send them before their flush deadline.
PROFILES_MAX_WAITING = 10_000
#: One change to a customer: its input (event or tick), the event (None: the watermark
#: breached what it made overdue) and the watermark it was applied at.
Change = tuple[Source, Event | None, int]


def _raw() -> faust.Schema:
    """Bytes in, bytes out (one object per topic/table: Faust mutates schemas it is given)."""
    return faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


def worker_datadir(settings: Settings) -> Path:
    """This worker's RocksDB directory (one per ``HUB_WORKER_ID`` under the state dir)."""
    return settings.state_dir / "worker" / settings.worker.worker_id


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
            producer_max_batch_size=PRODUCER_BATCH_BYTES,
            table_standby_replicas=0,
            broker_session_timeout=settings.worker.session_timeout_s,
            broker_heartbeat_interval=settings.worker.session_timeout_s / 3,
            Table=HubTable,  # changelog records acknowledged before offsets are committed
            # Every topic and table holds bytes; the hub's own codec does the encoding.
            key_serializer="raw",
            value_serializer="raw",
        )
        # Sources: Kafka name of each input topic -> its domain; the worker's own topics.
        prefix = settings.kafka.topic_prefix
        self.domain_of = {t.name(prefix): domain for domain, t in BY_DOMAIN.items()}
        self.tick_topic_name = tick_topic(settings)
        self.input_topics = (*self.domain_of, self.tick_topic_name)
        self.inputs = self.app.topic(*self.input_topics, schema=_raw())
        self.ticks = self.app.topic(self.tick_topic_name, partitions=partitions, schema=_raw())
        self.provider_claims = self.app.topic(
            provider_topic(settings), partitions=partitions, schema=_raw()
        )
        # Tables.
        self.customers, self.clock_table, self.providers = (
            cast(
                HubTable,
                self.app.Table(
                    name,
                    partitions=partitions,
                    key_type=bytes,
                    value_type=bytes,
                    options=dict(ROCKSDB_OPTIONS),  # Faust pops keys from it
                ),
            )
            for name in WORKER_TABLES
        )
        self.cache: StateCache[CustomerState, Change] = StateCache(
            settings.worker.state_cache_customers, self._read_state, self._write_states
        )
        self.profiles_due: dict[str, CustomerState] = {}  # customer_id -> state, to send
        # Outputs and event time.
        self.emitter = Emitter(self.app, self.codec, self.metrics, prefix, provider_topic(settings))
        self.time = EventTime(
            self.rules,
            self.domain_of,
            self.metrics,
            settings.worker.tick_interval_s,
            self.app.highwater,
            lambda: self.app.committed,
        )
        # Agents, recovery and timers.
        self.customers.on_recover(self._rebuild)
        self.app.agent(self.inputs, name="customers")(self._subscription)
        for topic in self.input_topics:
            self.app.batch_handlers[topic] = self._on_batch
        self.app.agent(self.provider_claims, name="providers")(self._provider_agent)
        self.app.timer(settings.worker.tick_interval_s)(self._send_ticks)
        self.app.timer(settings.worker.tick_interval_s)(self._refresh_ends)
        self.app.timer(settings.worker.profile_flush_s)(self._send_profiles)
        self.app.before_commit.append(self._before_commit)

    # -- customer records, a partition's batch at a time ------------------------------

    async def _subscription(self, stream: Any) -> None:
        """The agent that subscribes the app to the input topics (Faust assigns the
        partitions of what its agents read); their records reach ``_on_batch`` instead."""
        async for event in stream.events():
            msg = event.message
            raise RuntimeError(f"{msg.topic}[{msg.partition}]@{msg.offset} not batched")

    async def _on_batch(self, tp: TP, records: list[Any], going: Callable[[], bool]) -> int:
        """One partition's fetched records (aiokafka ConsumerRecords), in offset order."""
        done = 0
        for record in records:
            if not going():  # a rebalance has begun: the rest is read again after it
                break
            await self._on_record(record)
            done += 1
            if self.customers.outgoing:  # states evicted from the cache: their changelog
                await self.customers.send_outgoing()
                if len(self.customers.unacknowledged) > MAX_UNACKNOWLEDGED:
                    await self.customers.acknowledged()  # the broker sets the pace
            if not done % YIELD_EVERY:
                await asyncio.sleep(0)
        return done

    async def _on_record(self, msg: Any) -> None:
        self.time.positions[(msg.topic, msg.partition)] = msg.offset + 1
        if msg.topic == self.tick_topic_name:
            source = (msg.topic, msg.partition, msg.offset)
            await self._advance(source, int(msg.value or b"0"))
            return
        try:
            await self._on_input(msg, msg.key, msg.value)
        except Exception as exc:  # one bad record must not stop every customer
            log.exception("processing failed at %s[%d]@%d", msg.topic, msg.partition, msg.offset)
            why = Rejection(PROCESSING, None, f"{type(exc).__name__}: {exc}")
            await self._dead(msg, msg.key, msg.value, why)

    async def _on_input(self, msg: Any, key: bytes | None, value: bytes | None) -> None:
        domain = self.domain_of[msg.topic]
        record_ms = msg.timestamp or wall_ms()  # milliseconds (the broker's append time)
        verdict = accept(self.codec, BY_DOMAIN[domain].logical, key, value, record_ms, self.bounds)
        if isinstance(verdict, Rejection):
            await self._dead(msg, key, value, verdict)
            return
        ev = normalise(domain, verdict)
        t = ev["occurred_at"]
        clock = self.time.clock(msg.partition)
        if clock.watermark_ms and t < clock.watermark_ms - self.rules.dedup_horizon_ms:
            # Older than the ids we remember: it could be a duplicate we can no longer detect.
            reason = "older than the dedup horizon behind the watermark"
            await self._dead(msg, key, value, Rejection(TOO_LATE, "occurred_at", reason))
            return
        state = self.cache.get(ev["customer_id"], msg.partition)
        source = (msg.topic, msg.partition, msg.offset)
        change: Change = (source, ev, clock.watermark_ms)
        res = self._apply(state, change)
        if res.duplicate:
            self.metrics.duplicates.labels(domain).inc()
            # Idempotent, and after a crash the first copy's profile may never have left.
            self.profiles_due[res.state.customer_id] = res.state
        else:
            if not await self._commit(res, change):
                reason = "the customer's state or an output record would exceed Kafka's limit"
                await self._dead(msg, key, value, Rejection(OUTPUT_TOO_LARGE, None, reason))
                return
            if state is None:
                self.metrics.profiles.inc()
            for part, n in res.pruned.items():
                self.metrics.state_pruned.labels(part).inc(n)
            self.metrics.event(domain, ev["event_type"])
            self.metrics.event_lag.observe(max(0.0, time.time() - t / 1000))
            self.metrics.processing.observe(max(0.0, time.time() - record_ms / 1000))
        # Advance event time, a duplicate's too (a replay after a takeover re-reads how far the
        # topic had got); what this makes overdue is breached now, in offset order.
        now = wall_ms()
        clock.observe(msg.topic, t, now)
        await self._advance(source, now)

    async def _advance(self, source: Source, now_ms: int) -> None:
        """Breaches are attributed to `source`, the event or tick that moved the watermark."""
        partition = source[1]
        watermark_ms = self.time.candidate(partition, now_ms)
        if not self.time.move(partition, watermark_ms):
            return
        for customer_id in self.time.due(partition):
            state = self.cache.get(customer_id, partition)
            if state is None:
                continue
            change: Change = (source, None, watermark_ms)
            res = self._apply(state, change)
            if res.changed:
                await self._commit(res, change)
            else:  # its deadline moved (segment now known): wait for the new one
                self.time.schedule(
                    partition, next_deadline(state.obligations, state.segment), customer_id
                )

    def _apply(self, state: CustomerState | None, change: Change) -> Result:
        """What one change does to a customer's state (in place), its outbox included.

        A change that fails after this (too large to send, a send refused) is undone by
        ``_undo``, which redoes the others from the last written state with this function.
        """
        try:
            return self._redo(state, change)
        except Exception:
            if state is not None:
                self._undo(state.customer_id, change[0][1])
            raise

    def _redo(self, state: CustomerState | None, change: Change) -> Result:
        source, ev, watermark_ms = change
        if ev is None:
            assert state is not None
            res = self.processor.on_watermark(state, watermark_ms)
        else:
            res = self.processor.on_event(state, ev, watermark_ms)
        if res.changed:
            res.state.partition = source[1]
            res.state.outbox = outbox.after_change(
                res.state.outbox, self.app.committed, source, self._outputs(res)
            )
        return res

    def _outputs(self, res: Result) -> list[Output]:
        outputs: list[Output] = [output(topic, rec) for topic, rec in res.outputs]
        if res.provider_claim:
            claim = res.provider_claim
            outputs.append((PROVIDER_CLAIM, claim["provider_id"], claim))
        return outputs

    async def _commit(self, res: Result, change: Change) -> bool:
        """Send what the change produced, then count the changed state for the next write.

        Kafka keeps no order between the outputs' partitions and the changelog's: the outbox
        (in the state since ``_apply``) lets whoever rebuilds this state re-send what may not
        have arrived. Every output is encoded first: a change with an output that would not
        fit in a produce request sends nothing and is undone (False; the caller dead-letters
        its input).
        """
        state = res.state
        source = change[0]
        try:
            encoded = [self.emitter.encode(*o) for o in self._outputs(res)]
            largest = max((len(v) for _, _, v in encoded), default=0)
            if largest > MAX_WRITE_BYTES:
                log.error(
                    "customer %r: change from %s[%d]@%d not applied, a record would be %d bytes",
                    state.customer_id[:40], *source, largest,
                )  # fmt: skip
                self._undo(state.customer_id, source[1])
                return False
            for encoded_record in encoded:
                await self.emitter.send(*encoded_record)
        except Exception:
            self._undo(state.customer_id, source[1])
            raise
        for topic, rec in res.outputs:
            self._count(topic.alias, rec, res.revised)
        self.cache.changed(state.customer_id, state, change)
        self.profiles_due[state.customer_id] = state
        if len(self.profiles_due) >= PROFILES_MAX_WAITING:
            await self._send_profiles()
        self.time.schedule(
            source[1], next_deadline(state.obligations, state.segment), state.customer_id
        )
        return True

    def _undo(self, customer_id: str, partition: int) -> None:
        """Back to the state before the failed change: the written one, with the changes
        since redone (a failed change is not in the journal: it is added only on success)."""
        journal = self.cache.forget(customer_id)
        state = self._read_state(customer_id, partition)
        for change in journal:
            state = self._redo(state, change).state
            self.cache.changed(customer_id, state, change)
        if state is None:
            self.profiles_due.pop(customer_id, None)
        elif customer_id in self.profiles_due:
            self.profiles_due[customer_id] = state

    async def _send_profiles(self) -> None:
        """The latest profile of every customer changed since the last send (the topic is
        compacted: only a customer's latest version matters)."""
        due, self.profiles_due = self.profiles_due, {}
        for state in due.values():
            await self.emitter.send(*self._encode_profile(state))

    async def _before_commit(self, offsets: Mapping[TP, int]) -> None:
        """Before offsets are committed: the profiles waiting to leave are sent and the
        changed states written (Faust then waits for Kafka to acknowledge both).

        Every changed state: the commit Faust makes when partitions are revoked comes
        here too, and these partitions are still this worker's until it returns. Once
        Kafka has the states, each table's checkpoint records it (faust_app.HubTable).
        """
        await self._send_profiles()
        self._write_states(self.cache.take_changed())
        states = self.customers.snapshot()
        clocks_written = self.clock_table.snapshot()  # the last commit's, acknowledged by it
        # The clocks as of these states (the agent goes on while this waits), written once
        # Kafka has the states: after a crash between the two, a worker taking over must
        # not start from a watermark ahead of the states it restores (it would breach the
        # obligations of the events it replays).
        clocks = self.time.rows(list(self.time.clocks))
        inputs = self._checkpoint_inputs(offsets)
        await self.customers.acknowledged()
        self.customers.checkpoint(states, inputs)
        await self.clock_table.acknowledged()
        self.clock_table.checkpoint(clocks_written, inputs)
        self.clock_table.write_many(clocks)

    def _checkpoint_inputs(self, offsets: Mapping[TP, int]) -> dict[int, dict[str, int]]:
        """Input topic -> offset per assigned partition, as of the commit being made."""
        inputs: dict[int, dict[str, int]] = {p: {} for p in self.time.clocks}
        for (topic, partition), offset in self.app.committed.items():
            if partition in inputs and topic in self.input_topics:
                inputs[partition][topic] = offset
        for tp, offset in offsets.items():
            if tp.partition in inputs and tp.topic in self.input_topics:
                inputs[tp.partition][tp.topic] = offset
        return inputs

    def _write_states(self, states: list[CustomerState]) -> None:
        rows = []
        for state in states:
            row = state.dumps()
            if len(row) > MAX_WRITE_BYTES:  # STATE_CAPS and the contract's lengths prevent it
                log.error("customer %r: state of %d bytes not written", state.customer_id[:40],
                          len(row))  # fmt: skip
                continue
            rows.append((state.partition, state.customer_id.encode(), row))
        self.customers.write_many(rows)

    def _read_state(self, customer_id: str, partition: int) -> CustomerState | None:
        raw = self.customers.read(partition, customer_id.encode())
        return CustomerState.loads(raw) if raw is not None else None

    def _encode_profile(self, state: CustomerState) -> tuple[str, bytes, bytes]:
        return self.emitter.encode(*output(PROFILE, profile_record(state, state.last_event_ms)))

    def _count(self, out: str, record: Any, revised: set[str]) -> None:
        """Metrics of one output (an anomaly's later versions are not new anomalies)."""
        status = record.get("status")
        if out == BREACH.alias and status == "breached":
            self.metrics.outcome("breached", record["rule"], record["segment"])
        elif out == OUTCOME.alias and status:
            self.metrics.outcome(status, record["rule"], record["segment"])
        elif out == ANOMALY.alias and record["anomaly_id"] not in revised:
            self.metrics.anomalies.labels(record["kind"]).inc()

    async def _dead(self, msg: Any, key: bytes | None, value: bytes | None, why: Rejection) -> None:
        await self.emitter.dead(msg, key, value, why, self.domain_of.get(msg.topic, msg.topic))

    # -- recovery, ticks and end offsets ------------------------------------------------

    async def _rebuild(self) -> None:
        """After a rebalance: deadline heaps and watermarks from the recovered tables, and
        the outputs a previous owner of the partitions may not have delivered.

        Cached states are dropped: input is re-read from the committed offsets. Changed
        ones of the partitions this worker keeps are written first (the commit at the
        revocation has normally written them): it keeps their clocks, which must not be
        ahead of the states in the table."""
        actives = self.app.assignor.assigned_actives()
        assigned = {tp.partition for tp in actives if tp.topic == self.tick_topic_name}
        owned = {(tp.topic, tp.partition) for tp in actives}
        taken_over, self.owned = owned - self.owned, owned
        committed = await self.app.read_committed() if taken_over else {}
        kept = set(self.time.clocks) & assigned
        kept -= {p for t, p in taken_over if t == self.tick_topic_name}
        self._write_states([s for s in self.cache.take_changed() if s.partition in kept])
        self.cache.clear()
        self.profiles_due.clear()
        self.time.reassign(assigned, taken_over, self.tick_topic_name)
        fresh = assigned - kept
        unsynced = sum(t.take_over(fresh) for t in (self.customers, self.clock_table))
        found = recovery.scan_customers(
            (raw for _, raw in self.customers.rows()), committed, taken_over, self.time
        )
        saved = recovery.saved_clocks(self.clock_table.rows())
        self.time.restore(fresh, saved, found.newest, self.settings.kafka.input_partitions)
        resend = found.resend + recovery.scan_providers(
            (raw for _, raw in self.providers.rows()), committed, taken_over
        )
        for name, key, rec in resend:
            # A forwarded claim says so: the provider agent may have counted it already.
            await self.emitter.emit(
                name, key, {**rec, "resent": True} if name == PROVIDER_CLAIM else rec
            )
        for state in found.profiles:
            await self.emitter.send(*self._encode_profile(state))
        self.metrics.profiles.set(found.customers)
        self.metrics.outbox_resent.inc(len(resend))
        log.info(
            "re-sent %d records and %d profiles a previous owner may not have delivered, "
            "and %d table rows written after the last checkpoint; "
            "recovered %d customers across partitions %s",
            len(resend),
            len(found.profiles),
            unsynced,
            found.customers,
            sorted(assigned),
        )

    async def _send_ticks(self) -> None:
        now = str(wall_ms()).encode()
        for tp in self.app.assignor.assigned_actives():
            if tp.topic == self.tick_topic_name:
                await self.ticks.send(key=b"tick", value=now, partition=tp.partition)
        self.metrics.open_obligations.set(self.time.open_deadlines())

    async def _refresh_ends(self) -> None:
        """The broker's end offsets of the input partitions, and the lag gauge from them."""
        tps = [tp for tp in self.app.assignor.assigned_actives() if tp.topic in self.domain_of]
        if not tps:
            return
        try:
            ends = await self.app.consumer.highwaters(*tps)
        except Exception as exc:  # a rebalance, a broker away: the snapshot ages instead
            log.debug("end offsets not read: %s", exc)
            return
        self.time.set_ends({(tp.topic, tp.partition): off for tp, off in ends.items()})
        for tp in tps:
            lag = self.time.lag(tp.topic, tp.partition)
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
            outputs = [output(ANOMALY, rec) for rec in res.records]
            for o in outputs:
                await self.emitter.emit(*o)
            # Versions of a spike are not new anomalies: count each anomaly_id once.
            self.metrics.anomalies.labels("provider_spike").inc(res.new_anomalies)
            res.state.outbox = outbox.after_change(
                res.state.outbox,
                self.app.committed,
                (msg.topic, msg.partition, msg.offset),
                outputs,
            )
            self.providers[claim.provider_id.encode()] = res.state.dumps()
