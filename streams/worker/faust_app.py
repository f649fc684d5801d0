"""The Faust App the worker runs: faust.App whose consumer seeks stream partitions reliably.

Why: after every rebalance (so after every restart) Faust resumes the partitions and the
flow, lets its fetcher run, and only then seeks the partitions to their committed offsets.
Two things went wrong there (faust-streaming 0.15.3 / aiokafka 0.14), both seen as a worker
SIGKILLed and restarted that never committed some partitions again:

- aiokafka's ``seek_to_committed`` skips partitions whose committed offset is 0 (``if offset
  and offset > 0``), and nothing seeks a partition with no commit. Such a partition kept the
  fetch position it reached before the seek, and what was fetched then was never processed.
- A batch fetched before the seek but delivered after it moved Faust's read offset past the
  re-fetched records and left a "gap" that made its commits advance one offset per commit.

So this consumer stops the flow before it seeks (Faust resumes it after the seek) and seeks
every stream partition: to its committed offset, 0 included, or, with no commit, to the log
start (the worker's ``auto.offset.reset`` is ``earliest``).

A third gap is in what Faust flushes before it commits offsets: table writes reach Kafka
through a buffer whose ``flush`` gives up after 0.1 s without a send, so an offset could be
committed while the changelog record of the state it produced was still in the buffer, and
a crash right then lost the event from the state (found by reading Faust while chasing a
failed restart; not caught in the act). Here every changelog record is tracked until Kafka
acknowledged it, and the producer's flush, which Faust awaits before each commit, waits
for all of them.

Records of the worker's input topics skip Faust's per-message path (conductor, channel
queue, stream, event, ack): ``getmany`` hands each partition's fetched batch to the app's
``batch_handlers`` and acknowledges the offsets the handler processed in one step. The
batch counts as a message in flight, so a rebalance waits for it as Faust waits for its
streams, and it stops at the first record after the flow stopped (what is left unacknowledged
is read again after the seek).

The worker writes changed customer states once per commit rather than once per event
(streams/worker/state_cache.py): the app's ``before_commit`` hooks run before Faust flushes
the producer and commits offsets, and ``HubTable.write_many`` writes outside an event (Faust
otherwise takes a write's partition from the event being processed).

The consumer also remembers the committed offsets it sought to and has committed since, so
the worker knows which of the outputs kept in its state (streams/worker/outbox.py) can no longer
be lost.

RocksDB is kept across restarts, a SIGKILL included (streams/worker/local_state.py decides
when it cannot be): each ``write_many`` also marks its keys "unsynced" in the same RocksDB
write batch, and once Kafka has acknowledged their changelog records a checkpoint deletes the
marks and stores Faust's changelog offset and the input offsets being committed. After a
crash the marked keys are the only ones RocksDB may hold ahead of the changelog: they are
sent to it again (``take_over``) before the worker takes in new records.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer
from faust.exceptions import ConsumerNotStarted
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, CodecArg
from faust.types.tuples import FutureMessage
from mode.utils.futures import notify

log = logging.getLogger("insurance_hub.worker")

#: Keys of the hub's own bookkeeping in a table partition's RocksDB (a NUL byte: never in a
#: customer id, control characters are refused at the door).
HUB_KEY_PREFIX = b"__hub\0"
#: Prefix of the marks of keys written since the last checkpoint (the key follows it).
UNSYNCED = HUB_KEY_PREFIX + b"unsynced\0"
#: The input offsets (topic -> next offset) the last checkpoint's commit was for, as JSON.
CHECKPOINT = HUB_KEY_PREFIX + b"inputs"
#: Processes a partition's fetched records in offset order and returns how many it processed
#: (a prefix: it stops once ``going()`` is false, a rebalance having begun).
BatchHandler = Callable[[TP, list[Any], Callable[[], bool]], Awaitable[int]]


class _InFlight:
    """A batch being processed, among the consumer's unacknowledged messages: Faust's
    ``wait_empty`` (before a rebalance or a stop) waits for it as for a message."""

    refcount = 1

    def __init__(self) -> None:
        self.acked = False


async def read_committed(consumer: AIOKafkaConsumer) -> dict[Any, int | None]:
    """The group's committed offset of every assigned partition (None: none committed).

    One OffsetFetch for all of them (``AIOKafkaConsumer.committed`` asks once per partition):
    the coordinator call ``committed`` itself makes, which leaves out partitions without a
    commit. Runs in the consumer thread's event loop, as aiokafka's own methods would.
    """
    tps = list(consumer.assignment())
    found = await consumer._coordinator.fetch_committed_offsets(tps)
    return {tp: found[tp].offset if tp in found else None for tp in tps}


async def seek_all_to_committed(
    consumer: AIOKafkaConsumer, changelogs: frozenset[str]
) -> dict[Any, int | None]:
    """Runs in the consumer thread's event loop, as aiokafka's own method would.

    Partitions without a commit go to their log start: one ListOffsets request for all of
    them, then plain seeks. ``seek_to_beginning`` once per partition made a fresh group's
    first start slow: aiokafka sends that reset only when no fetch to the partition's broker
    is in flight, and with nothing new to read every fetch waits out Faust's
    ``fetch_max_wait_ms`` (1.5 s), so 1.5 s per partition without a commit (55 s for the
    worker's 37; bench/bench_start.py). The broker answers a connection's requests in order,
    so the one request here can still wait for one such fetch, once.
    """
    committed = await read_committed(consumer)
    uncommitted = []
    for tp, offset in committed.items():
        if tp.topic in changelogs:
            # Table recovery positions changelog partitions itself: keep aiokafka's rule.
            if offset and offset > 0:
                consumer.seek(tp, offset)
        elif offset is not None and offset >= 0:
            consumer.seek(tp, offset)
        else:
            uncommitted.append(tp)
    if uncommitted:
        # Should retention move a log start before the first fetch, auto.offset.reset=earliest
        # sends the partition to the new start (what seek_to_beginning would do too).
        starts = await consumer.beginning_offsets(uncommitted)
        for tp in uncommitted:
            consumer.seek(tp, starts[tp])
    return committed


class _Consumer(driver.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Next offset to read per (topic, partition), as the group last committed it.
        self.committed: dict[tuple[str, int], int] = {}

    async def perform_seek(self) -> None:
        """Records fetched before the seek must not be delivered after it (see above).

        Both of Faust's recovery paths resume the flow themselves once the seek is done.
        """
        if self.flow_active:
            self.stop_flow()
        await super().perform_seek()

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """Records of topics with a batch handler go to it, a partition's batch at a time;
        the others to Faust's streams, message by message (as Faust does)."""
        handlers = cast(HubApp, self.app).batch_handlers
        records, active = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return
        if not self.flow_active:  # as Faust: dropped, the seek that resumes the flow re-reads
            try:
                await self.perform_seek()
            except Exception as exc:
                log.warning("seek while the flow is stopped failed: %r", exc)
            return
        generation = self.app.consumer_generation_id

        def going() -> bool:
            return self.flow_active and self.app.consumer_generation_id == generation

        for tp, batch in records.items():
            if not going():
                return
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            handler = handlers.get(tp.topic)
            if handler is not None:
                await self._handle_batch(handler, tp, batch, going)
                continue
            for record in batch:
                if not going():
                    return
                yield tp, self._to_message(tp, record)

    async def _handle_batch(
        self, handler: BatchHandler, tp: TP, batch: list[Any], going: Callable[[], bool]
    ) -> None:
        in_flight = _InFlight()
        self._unacked_messages.add(in_flight)  # type: ignore[arg-type]
        try:
            done = await handler(tp, batch, going)
            if done and going():
                self._ack_offsets(tp, [record.offset for record in batch[:done]])
                self._read_offset[tp] = batch[done - 1].offset
                self.app.monitor.stream_inbound_time[tp] = time.monotonic()
        finally:
            in_flight.acked = True
            self._unacked_messages.discard(in_flight)  # type: ignore[arg-type]
            notify(self._waiting_for_ack)

    def _ack_offsets(self, tp: TP, offsets: list[int]) -> None:
        """What ``Consumer.ack`` does for each message, for a batch's offsets at once."""
        committed = self._committed_offset[tp]
        index, acked = self._acked_index[tp], self._acked[tp]
        for offset in offsets:
            if (committed is None or offset >= committed) and offset not in index:
                index.add(offset)
                acked.append(offset)
        self._n_acked += len(offsets)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        thread = self._thread
        changelogs = frozenset(self.app.tables.changelog_topics)
        result: Mapping[TP, int] = await thread.call_thread(
            seek_all_to_committed, thread._ensure_consumer(), changelogs
        )
        self._remember(result)
        return result

    async def read_committed(self) -> Mapping[tuple[str, int], int]:
        """Asks the group coordinator: the recovery that follows a rebalance runs before the
        seek that would have told."""
        thread = self._thread
        self._remember(await thread.call_thread(read_committed, thread._ensure_consumer()))
        return self.committed

    def _remember(self, committed: Mapping[Any, int | None]) -> None:
        self.committed.update({(tp.topic, tp.partition): off or 0 for tp, off in committed.items()})

    async def _commit_offsets(
        self, offsets: Mapping[TP, int], start_new_transaction: bool = True
    ) -> bool:
        """Every commit path (the timer, a rebalance, shutdown) passes here before Faust
        flushes the producer: what the committed input produced is written first."""
        for hook in cast(HubApp, self.app).before_commit:
            await hook(offsets)
        done: bool = await super()._commit_offsets(offsets, start_new_transaction)
        return done

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        done: bool = await super()._commit(offsets)
        if done:
            self._remember(offsets)
        return done


class HubTable(faust.Table):
    """A table that keeps its changelog records until Kafka has acknowledged them, and
    whose RocksDB survives a crash (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unacknowledged: set[asyncio.Future[Any]] = set()
        self.outgoing: list[tuple[int, bytes, bytes]] = []  # written, changelog not sent yet
        self.unsynced: dict[int, set[bytes]] = {}  # partition -> keys marked since the snapshot
        self._sent_offset: dict[int, int] = {}  # partition -> highest acknowledged offset

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: CodecArg = None,
        value_serializer: CodecArg = None,
    ) -> FutureMessage:
        fut = super().send_changelog(partition, key, value, key_serializer, value_serializer)
        self._track(fut)
        return fut

    def _track(self, fut: asyncio.Future[Any]) -> None:
        self.unacknowledged.add(fut)
        fut.add_done_callback(self.unacknowledged.discard)

    def _acknowledged(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            meta = fut.result()
            if meta.offset > self._sent_offset.get(meta.partition, -1):
                self._sent_offset[meta.partition] = meta.offset

    async def send_outgoing(self) -> None:
        """The changelog records of ``write_many``, straight to the producer.

        Not through Faust's ``send_soon`` buffer: its one task sends a record per turn of the
        event loop, and at a million customers (a state evicted from the cache per event)
        its queue grew by gigabytes.
        """
        rows, self.outgoing = self.outgoing, []
        topic = self.changelog_topic.get_topic_name()
        produce = cast(HubApp, self.app).produce
        for partition, key, value in rows:
            fut = await produce(topic, key, value, partition)
            fut.add_done_callback(self._acknowledged)
            self._track(fut)

    async def acknowledged(self) -> None:
        """Until Kafka has acknowledged every changelog record written so far."""
        await self.send_outgoing()
        if self.unacknowledged:
            await asyncio.wait(list(self.unacknowledged))

    def read(self, partition: int, key: bytes) -> bytes | None:
        """Get `key` from `partition` outside an event (see write_many)."""
        value: bytes | None = self._db(partition).get(key)
        return value

    def rows(self) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of the assigned partitions, without the hub's or Faust's bookkeeping
        keys (straight from RocksDB: a recovery scans a million rows)."""
        store: Any = self.data
        for db in store._dbs_for_actives():
            for key, value in db.items():
                if not key.startswith(HUB_KEY_PREFIX) and key != store.offset_key:
                    yield key, value

    def write_many(self, rows: Iterable[tuple[int, bytes, bytes]]) -> None:
        """Set keys outside an event: (partition, key, value) rows, one RocksDB write batch
        per partition with each key's unsynced mark; their changelog records leave with
        ``send_outgoing`` (awaited by ``acknowledged`` and by the producer's flush before
        every commit)."""
        store: Any = self.data  # faust.stores.rocksdb.Store (the app's store is rocksdb://)
        batches: dict[int, Any] = {}
        for partition, key, value in rows:
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = store_batch(store)
            batch.put(key, value)
            batch.put(UNSYNCED + key, b"")
            self.unsynced.setdefault(partition, set()).add(key)
            store._key_index[key] = partition
            self.outgoing.append((partition, key, value))
        for partition, batch in batches.items():
            self._db(partition).write(batch)

    def snapshot(self) -> dict[int, set[bytes]]:
        """The keys written since the last snapshot: the next ``checkpoint`` unmarks them."""
        taken, self.unsynced = self.unsynced, {}
        return taken

    def checkpoint(
        self, written: dict[int, set[bytes]], inputs: Mapping[int, dict[str, int]]
    ) -> None:
        """Once Kafka has acknowledged the changelog records of the keys ``written`` (a
        ``snapshot``): unmark them (unless written again since), and store the highest
        acknowledged changelog offset (where Faust's recovery resumes) and the input offsets
        this commit is for, per partition of ``inputs`` (the assigned ones)."""
        store: Any = self.data
        for partition in inputs:  # the assigned partitions
            batch = store_batch(store)
            again = self.unsynced.get(partition, set())
            for key in written.get(partition, ()):
                if key not in again:
                    batch.delete(UNSYNCED + key)
            sent = self._sent_offset.get(partition)
            if sent is not None:
                batch.put(store.offset_key, str(sent).encode())
            batch.put(CHECKPOINT, json.dumps(inputs[partition]).encode())
            self._db(partition).write(batch)

    def take_over(self, partitions: Iterable[int]) -> int:
        """Partitions just assigned and recovered: send their marked keys to the changelog
        again (after a crash RocksDB may hold them ahead of it); returns how many. Their
        marks go at the next checkpoint, once Kafka has them. Offsets this process had
        acknowledged on them before are forgotten: Faust's recovery has stored newer ones."""
        count = 0
        for partition in partitions:
            self._sent_offset.pop(partition, None)
            db = self._db(partition)
            for key in unsynced_keys(db):
                value = db.get(key)
                if value is not None:
                    self.outgoing.append((partition, key, value))
                    self.unsynced.setdefault(partition, set()).add(key)
                    count += 1
        return count

    def _db(self, partition: int) -> Any:
        store: Any = self.data
        return store._db_for_partition(partition)


def unsynced_keys(db: Any) -> Iterator[bytes]:
    """The keys marked unsynced in one partition's RocksDB (rocksdict ``Rdict``)."""
    it = db.iter()
    it.seek(UNSYNCED)
    while it.valid():
        mark = it.key()
        if not mark.startswith(UNSYNCED):
            break
        yield mark[len(UNSYNCED) :]
        it.next()


def store_batch(store: Any) -> Any:
    """A RocksDB write batch for Faust's store (rocksdict, a dependency of the hub)."""
    import rocksdict

    return rocksdict.WriteBatch(raw_mode=True)


class _Producer(driver.Producer):
    async def flush(self) -> None:
        """Also wait for every changelog record written so far (see above)."""
        tables = self.transport.app.tables.values()
        for table in tables:
            if isinstance(table, HubTable):
                await table.send_outgoing()
        await super().flush()
        pending = [f for t in tables if isinstance(t, HubTable) for f in t.unacknowledged]
        if pending:
            await asyncio.wait(pending)


class _Transport(driver.Transport):
    Consumer = _Consumer
    Producer = _Producer


#: Awaited with the offsets about to be committed (next offset to read per partition).
CommitHook = Callable[[Mapping[TP, int]], Awaitable[None]]


class HubApp(faust.App):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Awaited before every offset commit.
        self.before_commit: list[CommitHook] = []
        #: Topic -> what processes its records in batches (see _Consumer.getmany).
        self.batch_handlers: dict[str, BatchHandler] = {}

    async def produce(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> asyncio.Future[Any]:
        """One record straight to aiokafka's producer, the one Faust flushes before every
        commit (Faust's ``Producer.send`` adds a signal and monitor calls per record)."""
        producer: Any = self.producer
        fut: asyncio.Future[Any] = await producer._ensure_producer().send(
            topic, value, key=key, partition=partition
        )
        return fut

    def highwater(self, topic: str, partition: int) -> int | None:
        """The end offset of an assigned partition as of the consumer's last fetch (None:
        not known), read from aiokafka's subscription state: asked per event, and Faust's
        way there is four calls deep."""
        consumer: Any = self.consumer
        try:
            state = consumer._thread._ensure_consumer()._subscription.subscription.assignment
            highwater: int | None = state.state_value(TP(topic, partition)).highwater
        except (ConsumerNotStarted, AttributeError):  # not started, not assigned (any more)
            return None
        return highwater

    @property
    def committed(self) -> Mapping[tuple[str, int], int]:
        """The group's committed offsets as this worker knows them (from its seeks and commits)."""
        return cast(_Consumer, self.consumer).committed

    async def read_committed(self) -> Mapping[tuple[str, int], int]:
        """The committed offsets of every assigned partition, fresh from the group."""
        return await cast(_Consumer, self.consumer).read_committed()

    def _new_transport(self) -> driver.Transport:
        return _Transport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> driver.Transport:
        return _Transport(self.conf.broker_producer, self)
