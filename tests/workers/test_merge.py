"""Several workers' metrics as one exposition: counters, gauges and histograms summed, `_created` the
earliest, and the result still Prometheus' text format."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from polyport.metrics import merge


def worker_exposition(connections: int, open_now: int, seconds: list[float]) -> bytes:
    registry = CollectorRegistry()
    counter = Counter("polyport_connections", "Connections accepted.", ["service"], registry=registry)
    gauge = Gauge("polyport_connections_open", "Connections open now.", ["service"], registry=registry)
    histogram = Histogram("polyport_command_seconds", "Time to handle a command.", ["service"], registry=registry,
                          buckets=(0.001, 0.01))
    counter.labels("imap").inc(connections)
    gauge.labels("imap").set(open_now)
    for value in seconds:
        histogram.labels("imap").observe(value)
    return generate_latest(registry)


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode()) for s in family.samples}


def test_samples_are_summed_and_created_is_the_earliest() -> None:
    first = worker_exposition(3, 2, [0.0005, 0.005])
    second = worker_exposition(4, 1, [0.05])
    merged = samples(merge([first, second]))
    imap = (("service", "imap"),)
    assert merged[("polyport_connections_total", imap)] == 7
    assert merged[("polyport_connections_open", imap)] == 3
    assert merged[("polyport_command_seconds_count", imap)] == 3
    assert merged[("polyport_command_seconds_bucket", (("le", "0.001"), ("service", "imap")))] == 1
    assert merged[("polyport_command_seconds_bucket", (("le", "+Inf"), ("service", "imap")))] == 3
    created = [samples(e)[("polyport_connections_created", imap)] for e in (first, second)]
    assert merged[("polyport_connections_created", imap)] == min(created)
    # Prometheus reads the types as they were: a counter is named as its samples are.
    kinds = {f.name: f.type for f in text_string_to_metric_families(merge([first, second]).decode())}
    assert kinds["polyport_connections"] == "counter" and kinds["polyport_command_seconds"] == "histogram"


def test_one_worker_merges_to_its_own_figures_and_none_to_nothing() -> None:
    only = worker_exposition(5, 5, [0.002])
    assert samples(merge([only])) == samples(only)
    assert merge([]) == b""


def test_an_exited_workers_counters_stay_and_its_gauges_go() -> None:
    from polyport.metrics import counters_of

    retired = counters_of(worker_exposition(5, 4, [0.002]))
    imap = (("service", "imap"),)
    kept = samples(retired)
    assert kept[("polyport_connections_total", imap)] == 5
    assert kept[("polyport_command_seconds_count", imap)] == 1
    assert ("polyport_connections_open", imap) not in kept
    assert not any(name.endswith("_created") for name, _ in kept)
    live = worker_exposition(2, 1, [])
    merged = samples(merge([live, retired]))
    assert merged[("polyport_connections_total", imap)] == 7
    assert merged[("polyport_connections_open", imap)] == 1
