"""`hub demo`: the main job, from an empty machine to a service director's report.

Stack up → topics → ClickHouse schema → worker and sink in the background → a simulated
month of a mid-size insurer → wait until every record is processed and landed → report.
The worker and sink keep running afterwards (so Prometheus and the dashboards have live
data); `hub stack down` stops them with the rest.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError

from schemas.topics import INPUTS, topic_names
from streams.domain.sla.rules import load_rules
from streams.kafka_admin import group_lag, total_lag
from streams.ops.stack.apps import APPS, app_spec
from streams.ops.stack.manager import Stack
from streams.ops.stack.process import StackError, log_tail, running_pid, start, stop
from streams.settings import Settings

TICK_SLACK = 10  # ticks (seconds) a drained worker may be behind per partition: commit interval


@dataclass
class DemoRun:
    settings: Settings
    timings: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def step(self, text: str) -> float:
        print(f"==> {text}", file=sys.stderr, flush=True)
        return time.monotonic()


def reset_data(settings: Settings) -> None:
    """A clean slate for a reproducible report: the hub's topics, groups, state and tables.

    Only what belongs to this deployment goes: topics under its prefix and app id, its two
    consumer groups, the worker's RocksDB directory, and the tables of its ClickHouse database.
    """
    from sinks.clickhouse.migrate import writer_client
    from streams.kafka_admin import admin_client
    from streams.worker.app import worker_datadir

    for name in APPS:
        stop(app_spec(settings, name))
    prefix, app_id = settings.kafka.topic_prefix, settings.worker.app_id
    ours = set(topic_names(settings).values())
    with admin_client(settings.kafka.bootstrap, "hub-demo") as admin:
        existing = set(admin.list_topics())
        doomed = sorted(t for t in existing if t in ours or t.startswith(f"{prefix}{app_id}-"))
        if doomed:
            admin.delete_topics(doomed)
        groups = {g["group_id"] for g in admin.list_groups()}
        gone = [g for g in (app_id, settings.sink.group_id) if g in groups]
        if gone:
            admin.delete_groups(gone)
        deadline = time.monotonic() + 60
        while set(admin.list_topics()) & set(doomed):
            if time.monotonic() > deadline:
                raise StackError(f"Kafka did not delete topics {doomed} within 60 s")
            time.sleep(0.5)
        if doomed:
            # Listed as gone is not yet removed from every partition's log: a topic of the
            # same name created at once has left a producer waiting for metadata here.
            time.sleep(5)
    shutil.rmtree(worker_datadir(settings), ignore_errors=True)
    ch = writer_client(settings, database=None)
    ch.execute(f"DROP DATABASE IF EXISTS {settings.clickhouse.database}")


def start_apps(settings: Settings) -> dict[str, int]:
    """Worker and sink as background processes (idempotent: a running one is kept)."""
    pids = {}
    for name in APPS:
        spec = app_spec(settings, name)
        pid = running_pid(spec)
        pids[name] = pid if pid is not None else start(spec)
    return pids


def wait_until_drained(settings: Settings, timeout_s: float) -> dict[str, float]:
    """Block until worker and sink have committed everything; returns when each got there.

    The worker's group also reads its own topics: claims forwarded to the provider agent
    (provider spikes exist only once that topic is drained too: 0 lag) and the ticks topic.
    The worker sends a tick per partition every second for ever and commits every few
    seconds, so the ticks' lag is rarely 0: they count as drained when no partition is more
    than TICK_SLACK ticks behind, i.e. the watermark has caught up with the wall clock and
    what that breached is on the sink's topics, which the quiet period then waits for.
    """
    from sinks.clickhouse.routes import subscribed_topics
    from streams.worker.topics import provider_topic, tick_topic

    worker_topics = [t.name(settings) for t in INPUTS] + [provider_topic(settings)]
    ticks = tick_topic(settings)
    sink_topics = sorted(subscribed_topics(settings))
    t0 = time.monotonic()
    done: dict[str, float] = {}
    quiet_since: float | None = None
    while time.monotonic() - t0 < timeout_s:
        for name in APPS:
            spec = app_spec(settings, name)
            if running_pid(spec) is None:
                raise StackError(
                    f"the {name} exited; last lines of {spec.log_file}:\n" + log_tail(spec.log_file)
                )
        try:
            wlag = total_lag(settings.kafka.bootstrap, settings.worker.app_id, worker_topics)
            tick_lag = group_lag(settings.kafka.bootstrap, settings.worker.app_id, [ticks])
            slag = total_lag(settings.kafka.bootstrap, settings.sink.group_id, sink_topics)
        except KafkaError:  # e.g. a new group's coordinator not elected yet: ask again
            time.sleep(1.0)
            continue
        if wlag == 0 and "worker" not in done:
            done["worker"] = time.monotonic()
        print(
            f"\r    waiting: worker lag {wlag:>8,}  sink lag {slag:>8,}",
            end="",
            file=sys.stderr,
            flush=True,
        )
        if wlag == 0 and slag == 0 and max(tick_lag.values(), default=0) <= TICK_SLACK:
            # Outputs of the last events (and ticks) may still be on their way: stay quiet a while.
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 6:
                done["sink"] = quiet_since
                print(file=sys.stderr)
                return done
        else:
            quiet_since = None
        time.sleep(1.0)
    print(file=sys.stderr)
    raise TimeoutError(f"worker and sink did not catch up within {timeout_s:.0f}s")


def _prom_quantile(settings: Settings, metric: str, q: float) -> float | None:
    expr = f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket[10m])))"
    url = f"{settings.prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            result = json.loads(resp.read())["data"]["result"]
        value = float(result[0]["value"][1]) if result else None
        return None if value is None or value != value else value
    except (OSError, KeyError, IndexError, ValueError):
        return None


def _pr(found: set[Any], injected: set[Any]) -> str:
    hit = len(found & injected)
    precision = hit / len(found) if found else 1.0
    recall = hit / len(injected) if injected else 1.0
    return (
        f"found {len(found):>4}, injected {len(injected):>4}, "
        f"precision {precision:6.1%}, recall {recall:6.1%}"
    )


def report(run: DemoRun, truth: Any, gen_rate: float, records: int) -> None:
    from sinks.clickhouse.migrate import reader_client

    s = run.settings
    ch = reader_client(s)
    rules = load_rules()

    def q(sql: str) -> list[Any]:
        return list(ch.execute(sql))

    customers = q("SELECT count() FROM customer_profile_current")[0][0]
    by_domain = q("SELECT domain, count() FROM events_unique GROUP BY domain ORDER BY domain")
    dead = q(
        "SELECT error_kind, count() FROM dead_letter_unique GROUP BY error_kind ORDER BY error_kind"
    )
    attainment = {
        r[0]: r[1:]
        for r in q(
            "SELECT rule, count(), countIf(status = 'met'), countIf(status = 'breached'), "
            "countIf(status = 'completed_late') FROM sla_obligations GROUP BY rule"
        )
    }
    anomalies = q(
        "SELECT kind, subject_id, evidence_claim_ids FROM claim_anomaly_latest"
        " WHERE notEmpty(evidence_claim_ids)"  # a spike withdrawn after all has none
    )

    out: list[str] = []
    w = out.append
    w("")
    w("insurance-hub demo report")
    w("=" * 78)
    w(f"{truth.customers:,} customers simulated: {records:,} records published "
      f"({gen_rate:,.0f}/s), {customers:,} customers profiled")  # fmt: skip
    w("")
    w("Events landed per domain (deduplicated):")
    for domain, n in by_domain:
        w(f"  {domain:<14}{n:>10,}")
    dup = len(truth.duplicates)
    w(f"  duplicates injected {dup:,}: counted once; dead letters: "
      + (", ".join(f"{k} {n}" for k, n in dead) or "none"))  # fmt: skip
    w("")
    w("SLA attainment (obligations decided in the window)")
    w(
        f"  {'rule':<24}{'decided':>8}{'met':>8}{'breached':>9}{'late':>6}"
        f"{'attained':>10}{'target':>8}"
    )
    for rule in rules.rules:
        n, met, breached, late = attainment.get(rule.name, (0, 0, 0, 0))
        share = met / n if n else float("nan")
        flag = "" if not n or share >= rule.target else "  below target"
        w(
            f"  {rule.name:<24}{n:>8,}{met:>8,}{breached:>9,}{late:>6,}"
            f"{share:>10.1%}{rule.target:>8.0%}{flag}"
        )
    w("")
    w("Claim anomalies against what the generator injected")
    hf = {sid for kind, sid, _ in anomalies if kind == "high_frequency_customer"}
    ps = {sid for kind, sid, _ in anomalies if kind == "provider_spike"}
    early = {ev[0] for kind, _, ev in anomalies if kind == "early_claim" and ev}
    w(
        "  high-frequency claimants "
        + _pr(hf, {h.customer_id for h in truth.high_frequency_customers})
    )
    w(f"  provider spikes          {_pr(ps, {p.provider_id for p in truth.provider_spikes})}")
    w(f"  claims soon after start  {_pr(early, {e.claim_id for e in truth.early_claims})}")
    w("")
    t = run.timings
    w("Throughput and latency")
    if "worker_s" in t:
        w(
            f"  worker: {records / t['worker_s']:,.0f} records/s "
            f"(publish start → all processed, {t['worker_s']:.1f}s)"
        )
    if "sink_s" in t:
        w(
            f"  end to end: {records / t['sink_s']:,.0f} records/s "
            f"(publish start → all landed, {t['sink_s']:.1f}s)"
        )
    for label, metric in (
        ("ingest → outputs (worker)", "hub_worker_processing_seconds"),
        ("insert into ClickHouse (sink)", "hub_sink_insert_duration_seconds"),
    ):
        p50, p99 = _prom_quantile(s, metric, 0.5), _prom_quantile(s, metric, 0.99)
        if p50 is not None and p99 is not None:
            w(f"  {label:<30} p50 {p50 * 1000:8.1f} ms   p99 {p99 * 1000:8.1f} ms")
    w(
        "  (during a backfill this is queueing behind the backlog; "
        "bench/ measures latency at a fixed load)"
    )
    w("")
    w("Where to look next")
    c = s.clickhouse
    w(f"  ClickHouse   clickhouse-client --host {c.host} --port {c.port} --user {c.reader_user} "
      f"--password {c.reader_password} --database {c.database}")  # fmt: skip
    w("               e.g. SELECT * FROM sla_attainment_daily ORDER BY day DESC, rule LIMIT 20")
    w(f"  Prometheus   {s.prometheus.url}  (alerts: {s.prometheus.url}/alerts)")
    p = s.prometheus
    w(f"  Metrics      worker http://{p.metrics_host}:{p.worker_metrics_port}/metrics, "
      f"sink http://{p.metrics_host}:{p.sink_metrics_port}/metrics")  # fmt: skip
    w(f"  Logs         {s.state_dir / 'logs'}   Stop everything: .venv/bin/hub stack down")
    if run.problems:
        w("")
        w("PROBLEMS")
        for problem in run.problems:
            w(f"  - {problem}")
    print("\n".join(out))


def check_landed(run: DemoRun, truth: Any) -> None:
    """Every accepted event, every dead letter and every customer made it into ClickHouse."""
    from sinks.clickhouse.migrate import reader_client

    ch = reader_client(run.settings)
    unique_valid = truth.total_events
    landed = ch.execute("SELECT count() FROM events_unique")[0][0]
    if landed != unique_valid:
        run.problems.append(f"{landed:,} events landed, {unique_valid:,} expected")
    dead = ch.execute("SELECT count() FROM dead_letter_unique")[0][0]
    if dead != len(truth.malformed):
        run.problems.append(
            f"{dead} dead letters landed, {len(truth.malformed)} malformed injected"
        )
    profiled = ch.execute("SELECT count() FROM customer_profile_current")[0][0]
    if profiled != truth.customers:
        run.problems.append(f"{profiled:,} customers profiled, {truth.customers:,} simulated")


def run_demo(
    settings: Settings, customers: int, days: float, seed: int, timeout_s: float, fresh: bool = True
) -> int:
    from sinks.clickhouse.migrate import migrate
    from streams.simulator import GeneratorConfig
    from streams.simulator.runner import run as generate
    from streams.worker.topics import ensure_worker_topics

    run = DemoRun(settings)
    t = run.step("starting the local stack (Kafka, ClickHouse, Prometheus)")
    Stack(settings).up()
    run.timings["stack_s"] = time.monotonic() - t
    if fresh:
        run.step(
            "clearing the previous run's topics, worker state and tables (--keep-data keeps them)"
        )
        reset_data(settings)
    run.step("creating topics and applying the ClickHouse schema")
    ensure_worker_topics(settings)
    migrate(settings)
    run.step("starting the worker and the sink in the background")
    pids = start_apps(settings)
    print(f"    worker pid {pids['worker']}, sink pid {pids['sink']}", file=sys.stderr)
    run.step(f"publishing a simulated {days:g}-day month of {customers:,} customers")
    config = GeneratorConfig(customers=customers, days=days, seed=seed)
    t_pub = time.monotonic()
    result = generate(config, settings, progress=True)
    run.step("waiting until every record is processed and landed")
    done = wait_until_drained(settings, timeout_s)
    run.timings["worker_s"] = done["worker"] - t_pub
    run.timings["sink_s"] = done["sink"] - t_pub
    check_landed(run, result.ground_truth)
    report(run, result.ground_truth, result.rate, result.records)
    return 1 if run.problems else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo", help="the main job: stack, worker, sink, a simulated month, a report"
    )
    p.add_argument(
        "--customers", type=int, default=20_000, help="size of the insurer (default 20,000)"
    )
    p.add_argument("--days", type=float, default=30.0, help="simulated days (default 30)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--timeout", type=float, default=1200.0, help="seconds to wait for landing")
    p.add_argument(
        "--keep-data", action="store_true", help="add to the previous run instead of starting clean"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return run_demo(
            settings, args.customers, args.days, args.seed, args.timeout, fresh=not args.keep_data
        )
    except (StackError, TimeoutError) as exc:
        print(f"hub demo failed: {exc}", file=sys.stderr)
        return 1
