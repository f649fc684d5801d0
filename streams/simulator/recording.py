"""Record a run's encoded records to a file and replay them to Kafka at publisher speed.

Why: live generation costs ~40 µs of Python per record on our machine (simulation plus
encoding), so it publishes ~13,000-16,000 records/s on one core. A benchmark of the hub needs
input faster than that, so it records a run once (deterministic per seed) outside the timed
part and replays it: replay is a loop of ``publish_raw`` over bytes from memory.

File layout (little-endian): ``HUBREC1\\n``; u32 length + JSON header (config, schema
fingerprints, record count); records as ``u8 topic index, i64 emit_ms, u16 key length,
u32 value length, key, value``; then u32 length + ground-truth JSON; then u64 offset of that
length field.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas import INPUT_TOPICS, Codec
from streams.ops.publish import EventPublisher
from streams.ops.topics import create_topics
from streams.settings import Settings

from .config import GeneratorConfig
from .model import InsurerSimulation
from .progress import Progress
from .records import EventEncoder
from .runner import RunResult, _sleep_until
from .truth import GroundTruth

MAGIC = b"HUBREC1\n"
_RECORD = struct.Struct("<BqHI")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@dataclass
class Recording:
    """A recorded run held in memory."""

    header: dict[str, Any]
    ground_truth: GroundTruth
    data: bytes
    records_offset: int
    records_end: int

    @property
    def records(self) -> int:
        return int(self.header["records"])

    def items(self) -> Iterator[tuple[str, int, bytes, bytes]]:
        """Every record in order: (logical input topic, emit time ms, key, value)."""
        data, pos, end, size = self.data, self.records_offset, self.records_end, _RECORD.size
        while pos < end:
            topic, emit_ms, key_len, value_len = _RECORD.unpack_from(data, pos)
            pos += size
            key = bytes(data[pos : pos + key_len])
            pos += key_len
            yield INPUT_TOPICS[topic], emit_ms, key, bytes(data[pos : pos + value_len])
            pos += value_len


def record(config: GeneratorConfig, path: str | Path, *, codec: Codec | None = None) -> GroundTruth:
    """Generate ``config``'s run and write its encoded records to ``path``."""
    codec = codec if codec is not None else Codec()
    sim = InsurerSimulation(config, codec=codec)
    index = {topic: i for i, topic in enumerate(INPUT_TOPICS)}
    encode = EventEncoder(codec)
    body = bytearray()
    pack = _RECORD.pack
    count = 0
    for ev in sim:
        value = encode(ev)
        key = ev.key.encode()
        body += pack(index[ev.topic], ev.emit_ms, len(key), len(value))
        body += key
        body += value
        count += 1
    truth = sim.close()
    header = json.dumps(
        {
            "format": 1,
            "topics": list(INPUT_TOPICS),
            "fingerprints": {t: f"{codec.schema(t).fingerprint:016x}" for t in INPUT_TOPICS},
            "config": truth.config,
            "records": count,
        }
    ).encode()
    gt = json.dumps(truth.to_json()).encode()
    with Path(path).open("wb") as fh:
        fh.write(MAGIC)
        fh.write(_U32.pack(len(header)))
        fh.write(header)
        fh.write(body)
        gt_at = fh.tell()
        fh.write(_U32.pack(len(gt)))
        fh.write(gt)
        fh.write(_U64.pack(gt_at))
    return truth


def load(path: str | Path) -> Recording:
    """Read a recording (the whole file: a default run is ~12 MB)."""
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise ValueError(f"{path} is not a generator recording")
    (header_len,) = _U32.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + 4
    header = json.loads(data[start : start + header_len])
    (gt_at,) = _U64.unpack_from(data, len(data) - 8)
    (gt_len,) = _U32.unpack_from(data, gt_at)
    truth = GroundTruth.from_json(json.loads(data[gt_at + 4 : gt_at + 4 + gt_len]))
    return Recording(header, truth, data, start + header_len, gt_at)


def replay(
    recording: Recording | str | Path,
    settings: Settings,
    *,
    speedup: float = 0.0,
    create: bool = True,
    progress: bool | None = None,
    publisher: EventPublisher | None = None,
) -> RunResult:
    """Publish a recording's records in order (paced by ``speedup`` like a live run)."""
    rec = recording if isinstance(recording, Recording) else load(recording)
    codec = Codec()
    for topic, fp in rec.header["fingerprints"].items():
        if f"{codec.schema(topic).fingerprint:016x}" != fp:
            raise ValueError(f"recording was made with another schema of {topic}; record again")
    if create:
        create_topics(settings)
    topics = rec.header["topics"]
    truth = rec.ground_truth
    own = publisher is None
    pub = (
        publisher
        if publisher is not None
        else EventPublisher(settings, validate=False, client_id="hub-generator-replay")
    )
    t0 = time.monotonic()  # connected: from here on it is publishing only
    bar = Progress(truth.window_start_ms, truth.window_end_ms, enabled=progress)
    data = rec.data
    view = memoryview(data)
    unpack = _RECORD.unpack_from
    size = _RECORD.size
    publish = pub.publish_raw
    pos = rec.records_offset
    end = rec.records_end
    window_start = truth.window_start_ms
    pace0 = 0.0
    count = 0
    total = 0
    emit_ms = window_start
    try:
        while pos < end:
            topic_index, emit_ms, key_len, value_len = unpack(data, pos)
            pos += size
            key = bytes(view[pos : pos + key_len])
            pos += key_len
            value = bytes(view[pos : pos + value_len])
            pos += value_len
            if speedup > 0 and emit_ms >= window_start:
                if not pace0:
                    pace0 = time.monotonic()
                _sleep_until(pace0 + (emit_ms - window_start) / 1000 / speedup, pub)
            publish(topics[topic_index], value, key=key)
            count += 1
            total += value_len
            if not count & 0x3FF:
                bar.update(count, emit_ms)
        pub.flush()
    finally:
        bar.close(count, emit_ms)
        if own:
            pub.close()
    return RunResult(truth, count, total, time.monotonic() - t0)
