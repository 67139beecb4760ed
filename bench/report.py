"""The benchmark's figures as a table: each figure, its target (issue 7) and met / missed."""

import math
import sys
import time

from bench.observe import SERVICES


def step(text: str) -> None:
    """Progress on stderr, so stdout holds only the report."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _n(value, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def rows(r: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, verdict) rows; a section title has empty other columns."""
    out: list[tuple[str, str, str, str]] = []

    def add(label, value, target="", ok=None):
        out.append((label, value, target, "" if ok is None else ("met" if ok else "MISSED")))

    def section(title):
        out.append((title, "", "", ""))

    k, single, bulk = r.get("kafka_reference", {}), r.get("mongo_single_reference", {}), r.get("mongo_bulk_reference", {})
    section("References (same servers, no services)")
    add("raw aiokafka consume -> produce, pipelined", f"{_n(k.get('per_second'))} msg/s")
    if single:
        add(f"MongoDB single acknowledged upserts ({single['concurrency']} tasks)", f"{_n(single['per_second'])} writes/s")
    if bulk:
        add(f"MongoDB bulk upserts ({bulk['documents']:,} docs of ~{bulk['bytes']} B, {bulk['batch']}/batch)",
            f"{_n(bulk['per_second'])} docs/s")

    p = r.get("pipeline")
    if p:
        section(f"Pipeline ({p['nominations']:,} nominations published at once; rate = 10th-90th percentile)")
        for stage, label in (("accepted", "intake -> nomination.accepted"),
                             ("panel_assigned", "intake -> evaluation.panel_assigned"),
                             ("delivery_recorded", "intake -> delivery recorded (panel notice)")):
            rate = p["rates"][stage]
            add(label, f"{_n(rate['sustained_per_second'], 1)}/s (overall {_n(rate['overall_per_second'], 1)}/s)")
        add("documents created per nomination", _n(p["documents_created_per_nomination"], 1))
        ratio = r.get("ratio")
        if ratio:
            add("rate the bulk reference allows for those documents", f"{_n(ratio['allowed_nominations_per_second'], 1)}/s")
            add("pipeline / database reference", f"{ratio['ratio'] * 100:.1f} %", ">= 70 %", ratio["ratio"] >= 0.70)
        for name in SERVICES:
            s = p["services"][name]
            section(f"  {name} ({s['events_consumed']:,} events consumed in the phase)")
            rt = s["round_trips_per_event"]
            add("    database round trips per event (per nomination)",
                f"{_n(rt, 1)} ({_n(s['round_trips_per_nomination'], 1)})" if rt is not None else "n/a")
            if s.get("round_trips_per_batch") is not None:
                add("    database round trips per batch (inputs per batch)",
                    f"{_n(s['round_trips_per_batch'], 1)} ({_n(s['inputs_per_batch'], 1)})")
            net = s["cpu_us_per_event_net_of_idle"]
            add("    CPU per event, net of idle polling (gross)",
                f"{_n(net)} us ({_n(s['cpu_us_per_event'])} us)", "<= 300 us", net <= 300)
            rss = r.get("peak_rss_mb", {}).get(name)
            if rss is not None:
                add("    peak RSS (VmHWM)", f"{_n(rss)} MB", "< 150 MB", rss < 150)
        busy = ", ".join(f"{n} {_n(v)} %" for n, v in p["server_cpu_percent"].items())
        add("servers' CPU during the phase (100 % = one core)", busy)
        idle = ", ".join(f"{n} {_n(v, 1)} %" for n, v in r.get("idle_cpu_percent", {}).items())
        add("services' CPU when idle (consumers polling)", idle)

    w = r.get("delivery_worker")
    if w:
        section(f"Delivery worker (off during the phases above), over a backlog of {w['backlog_start']:,} deliveries")
        add(f"  deliveries sent in {w['seconds']:.0f} s (backlog left: {w['backlog_end']:,})",
            f"{_n(w['per_second'], 1)}/s")
        add("  database round trips per delivery", _n(w["round_trips_per_delivery"], 1))
        add("  CPU per delivery, net of idle polling (gross)",
            f"{_n(w['cpu_us_per_delivery_net_of_idle'])} us ({_n(w['cpu_us_per_delivery'])} us)")
        add("  peak RSS (VmHWM)", f"{_n(w['peak_rss_mb'])} MB", "< 150 MB", w["peak_rss_mb"] < 150)

    for key, judged in (("latency_ms", True), ("latency_unloaded_ms", False)):
        lat = r.get(key)
        if not lat:
            continue
        section(f"Latency at a steady {lat['rate']:g} nominations/s, {lat['sent']} sent, "
                f"{lat['panel_assigned']['samples']} with a panel in time "
                f"(consumer side){'' if judged else ': no queueing, for comparison'}")
        for stage, label, limit in (("accepted", "intake -> nomination.accepted", 50),
                                    ("panel_assigned", "intake -> evaluation.panel_assigned", None),
                                    ("delivery_recorded_accepted", "intake -> delivery recorded (acceptance notice)", 200),
                                    ("delivery_recorded_panel", "intake -> delivery recorded (panel notice)", 200)):
            v = lat[stage]
            limit = limit if judged else None
            add(label, f"p50 {_n(v['p50'], 1)} / p99 {_n(v['p99'], 1)} ms",
                f"p99 < {limit} ms" if limit else "", v["p99"] < limit if limit else None)
        v = lat["accepted_log_time"]
        add("  (accepted, by the output's log time)", f"p50 {_n(v['p50'], 1)} / p99 {_n(v['p99'], 1)} ms")
        v = lat["database_round_trip"]
        add("  (one small database read meanwhile)", f"p50 {_n(v['p50'], 1)} / p99 {_n(v['p99'], 1)} ms")

    rb = r.get("rebuild")
    if rb:
        section("Projection rebuild (`exemplars rebuild`): read the log, replay in memory with the decisions "
                "pinned, write each document once")
        for name in SERVICES:
            if name in rb:
                b = rb[name]
                verdict = "equal to the live projection" if b["equal"] else \
                    f"DIFFERS: {b['divergent']} divergent; {'; '.join(b['differences'])}"
                add(f"  {name}: {b['events']:,} events -> {b['documents_rebuilt']:,} documents, {verdict}",
                    f"{_n(b['events_per_second'])} events/s in memory", ">= 10,000/s", b["events_per_second"] >= 10_000)
                s_ = b["seconds"]
                add(f"    end to end (read {s_['read']:.1f} s, replay {s_['replay']:.1f} s, write {s_['write']:.1f} s)",
                    f"{_n(b['end_to_end_events_per_second'])} events/s")
                add("    bound: each document written once at the bulk reference's rate",
                    f"{_n(b['write_bound_events_per_second'])} events/s")
        if "peak_rss_mb_of_the_rebuilding_process" in rb:
            add("  peak RSS of the process that rebuilt all three", f"{rb['peak_rss_mb_of_the_rebuilding_process']:.0f} MB")
    return out


def print_report(r: dict) -> None:
    table = rows(r)
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    m = r["machine"]
    print(f"\nExemplars benchmark, {r['started']}: {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}; "
          f"load average {m['load_average_start'][0]:.2f} at start, {r.get('load_average_end', [float('nan')])[0]:.2f} "
          "at end (other work on the machine makes every figure noisy).")
    print(f"{'figure':<{widths[0]}}  {'value':>{widths[1]}}  {'target':<{widths[2]}}  verdict")
    for label, value, target, verdict in table:
        if not value and not target:
            print(label)
        else:
            print(f"{label:<{widths[0]}}  {value:>{widths[1]}}  {target:<{widths[2]}}  {verdict}")
    p = r.get("pipeline")
    if p and p.get("db_counter_source") == "top":
        print("\nDatabase commands per nomination, by collection (from the server's `top`):")
        for name in SERVICES:
            parts = []
            for coll, sections in sorted(p["services"][name]["commands_by_collection"].items()):
                parts.append(f"{coll} " + " ".join(f"{s}={v[0] / p['nominations']:.2f}" for s, v in sections.items()))
            print(f"  {name}: " + "; ".join(parts))
        print("Server-side time per nomination, by collection (ms; includes queueing inside the server):")
        for name in SERVICES:
            by_coll = {coll: sum(v[1] for v in sections.values()) / 1000 / p["nominations"]
                       for coll, sections in p["services"][name]["commands_by_collection"].items()}
            print(f"  {name}: " + "; ".join(f"{c} {ms:.1f}" for c, ms in sorted(by_coll.items(), key=lambda i: -i[1])))
    for name, prof in (r.get("profiles") or {}).items():
        if prof.get("samples"):
            print(f"\nProfile of {name} ({prof['samples']} busy samples, {prof['idle_samples']} idle, {prof['file']}):")
            print("  packages (inclusive): " + "; ".join(f"{f} {pct}%" for f, pct in prof["inclusive_packages"]))
            print("  busiest project functions (inclusive): " +
                  "; ".join(f"{f} {pct}%" for f, pct in prof["inclusive_project"][:8]))
            print("  busiest frames (self): " + "; ".join(f"{f} {pct}%" for f, pct in prof["self"][:8]))
