//! The report's detail sections: where registration and deregistration time goes (agent log
//! steps, the container's readiness floor), each shell-loop cycle, where an agent's RSS goes,
//! the 50-agent run, lbsync's calls by route, and how everything was measured.

use std::fmt::Write as _;
use std::time::Duration;

use super::logs::Breakdown;
use super::report::{mib, ms, pct, Results};
use super::stats::{fmt_num, summarize};
use super::Plan;

fn steps_table(o: &mut String, title: &str, rows: &[Breakdown]) {
    let Some(first) = rows.first() else { return };
    let _ = writeln!(
        o,
        "{title}\n\n| step | N | median | p95 | min | max |\n|---|---|---|---|---|---|"
    );
    for (i, (name, _)) in first.steps.iter().enumerate() {
        let v: Vec<f64> = rows
            .iter()
            .filter_map(|b| b.steps.get(i).and_then(|s| s.1))
            .collect();
        match summarize(&v) {
            Some(s) => {
                let _ = writeln!(
                    o,
                    "| {name} | {} | {} | {} | {} | {} |",
                    s.n,
                    ms(s.median),
                    ms(s.p95),
                    ms(s.min),
                    ms(s.max)
                );
            }
            None => {
                let _ = writeln!(o, "| {name} | 0 | — | — | — | — |");
            }
        }
    }
    o.push('\n');
}

/// Failed probes before the passing one: none when no failure was logged, else the k for which
/// the retry delays 20, 40, ... ms (sum 20·(2^k − 1)) best match inspect → passing probe start.
fn failed_probes(b: &Breakdown) -> Option<u32> {
    let step = |i: usize| b.steps.get(i).and_then(|s| s.1);
    let (inspected, pass_start) = (step(1)?, step(3)?);
    if step(2).is_none() {
        return Some(0);
    }
    // Replay the agent's own retry schedule: the retry whose start is nearest the passing
    // probe's start (so the estimate follows the schedule when it changes).
    let gap = (pass_start - inspected).max(0.0);
    let mut retry = sidekick::agent::prober::Retry::new();
    let (mut at, mut best) = (0.0, (f64::MAX, 1));
    for k in 1..=1000u32 {
        let d =
            sidekick::agent::prober::next_delay(false, false, &mut retry, Duration::from_secs(5));
        at += d.as_secs_f64() * 1000.0;
        if (at - gap).abs() < best.0 {
            best = ((at - gap).abs(), k);
        }
        if at > gap {
            break;
        }
    }
    Some(best.1)
}

fn registration(o: &mut String, r: &Results) {
    let Some(sk) = &r.sidekick else { return };
    let _ = writeln!(
        o,
        "## Details\n\n### 1-2. `sidekick run`: where the time goes\n"
    );
    let floor: Vec<f64> = sk.floor.iter().map(|f| f.ready_ms).collect();
    let tries: Vec<f64> = sk
        .floor
        .iter()
        .map(|f| f64::from(f.failed_attempts))
        .collect();
    let first: Vec<f64> = sk.floor.iter().map(|f| f.first_attempt_ms).collect();
    if let (Some(f), Some(t), Some(a)) = (summarize(&floor), summarize(&tries), summarize(&first)) {
        let _ = writeln!(o, "Readiness floor (no agent running): Docker's `start` event → first complete HTTP 200 from `/health.php` through the published port, polled every 1 ms by the benchmark from the moment it saw the event (first attempt at median {}): median {}, p95 {}, min {}, max {} (N={}); failed attempts before it (docker-proxy accepts, then drops the connection while nothing listens in the container yet): median {}, max {}. An agent cannot register much before this.\n",
            ms(a.median), ms(f.median), ms(f.p95), ms(f.min), ms(f.max), f.n, fmt_num(t.median), fmt_num(t.max));
    }
    steps_table(o, "Registration, ms after Docker's `start` event (from the agent's own log lines, `RUST_LOG=info,sidekick=debug`):", &sk.reg_breakdown);
    steps_table(
        o,
        "Deregistration, ms after the stop request:",
        &sk.dereg_breakdown,
    );
    let failed: Vec<u32> = sk.reg_breakdown.iter().filter_map(failed_probes).collect();
    if !failed.is_empty() {
        let mut counts = std::collections::BTreeMap::new();
        for f in &failed {
            *counts.entry(*f).or_insert(0) += 1;
        }
        let parts: Vec<String> = counts
            .iter()
            .map(|(k, v)| format!("{k} failed probe(s) before the pass: {v} cycle(s)"))
            .collect();
        let _ = writeln!(o, "Failed probes before the first pass (estimated from the time between inspect and the passing probe's start, replaying this tree's retry schedule, `agent::prober::next_delay`): {}.\n", parts.join("; "));
    }
    let split = |want_fail: bool| -> Vec<f64> {
        sk.cycles
            .reg
            .iter()
            .zip(&sk.reg_breakdown)
            .filter(|(_, b)| failed_probes(b).is_some_and(|f| (f > 0) == want_fail))
            .map(|(s, _)| s.latency_ms)
            .collect()
    };
    if let (Some(ok), Some(bad)) = (summarize(&split(false)), summarize(&split(true))) {
        let _ = writeln!(o, "Registration by whether the first probe failed: passed at once in {} cycles (median {}), failed first in {} cycles (median {}).\n", ok.n, ms(ok.median), bad.n, ms(bad.median));
    }
    let sorted = |mut v: Vec<f64>| -> String {
        v.sort_by(f64::total_cmp);
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        o,
        "Every registration sample, sorted (ms): {}.\n",
        sorted(sk.cycles.reg.iter().map(|s| s.latency_ms).collect())
    );
    let _ = writeln!(
        o,
        "Every deregistration sample, sorted (ms): {}.\n",
        sorted(sk.cycles.dereg.iter().map(|s| s.latency_ms).collect())
    );
    let spread: Vec<f64> = sk
        .cycles
        .reg
        .iter()
        .map(|s| (s.last_put_ns - s.first_put_ns) as f64 / 1e6)
        .collect();
    if let Some(s) = summarize(&spread) {
        let _ = writeln!(o, "First to last of the five PUTs as the watcher received them: median {} (one transaction).\n", ms(s.median));
    }
}

fn shell(o: &mut String, r: &Results) {
    let Some(c) = &r.shell else { return };
    let _ = writeln!(o, "### 3. The 2014 shell loop, cycle by cycle\n");
    let _ = writeln!(o, "`benches/monweb-2014.sh`: curl of `/` without timeout, then one `etcdctl lease grant 10` and five `etcdctl put --lease` (or five `etcdctl del`), then `sleep 10`. Few cycles because each waits for the loop's next turn. Before each stop and each start the benchmark waits a random time uniform over the loop's 10 s period, so the latencies sample the whole period instead of locking onto it.\n");
    let _ = writeln!(o, "| cycle | registration | deregistration | `die` − DELETE | keys already absent at the stop |\n|---|---|---|---|---|");
    for i in 0..c.reg.len().max(c.dereg.len()) {
        let reg = c.reg.get(i).map(|s| ms(s.latency_ms)).unwrap_or_default();
        let (d, m, a) = c
            .dereg
            .get(i)
            .map(|s| {
                (
                    ms(s.latency_ms),
                    ms(s.margin_ms),
                    if s.absent_at_request {
                        "yes (lease lapse)"
                    } else {
                        "no"
                    }
                    .to_string(),
                )
            })
            .unwrap_or_default();
        let _ = writeln!(o, "| {} | {reg} | {d} | {m} | {a} |", i + 1);
    }
    o.push('\n');
}

fn footprint(o: &mut String, r: &Results) {
    let _ = writeln!(o, "### 4. Footprint\n");
    if let Some(w) = &r.one_agent {
        let _ = writeln!(o, "One agent over {:.0} s: VmRSS median {} (max {}), of which anonymous {}, file-backed {}, shmem {}; peak (VmHWM) {}; PSS {}; {} threads. CPU {} from utime+stime ({} from the threads' schedstat nanoseconds).\n",
            w.secs, mib(w.rss_kb.median), mib(w.rss_kb.max), mib(w.last.anon as f64), mib(w.last.file as f64), mib(w.last.shmem as f64), mib(w.last.hwm as f64),
            w.pss_kb.map(|p| mib(p as f64)).unwrap_or("—".into()), w.last.threads, pct(w.cpu_pct), w.cpu_pct_ns.map(pct).unwrap_or("—".into()));
        let _ = writeln!(
            o,
            "Resident memory by mapping (/proc/PID/smaps):\n\n| mapping | resident |\n|---|---|"
        );
        let mut m: Vec<_> = w.mapping.iter().collect();
        m.sort_by(|a, b| b.1.cmp(a.1));
        for (k, v) in m {
            let _ = writeln!(o, "| {k} | {} |", mib(*v as f64));
        }
        o.push('\n');
    }
    if let Some(s) = &r.shell_footprint {
        let _ = writeln!(o, "2014 shell loop over {:.0} s: tree RSS median {}, p95 {}, max {} (bash alone {}); CPU {} including every curl/etcdctl/sleep child. The five keys' lease equals the sleep, so the port key lapsed {} time(s) in the window and was absent {:.1} % of it while the container was healthy.\n",
            s.window.secs, mib(s.window.rss_kb.median), mib(s.window.rss_kb.p95), mib(s.window.rss_kb.max), mib(s.window.last.rss as f64), pct(s.window.cpu_pct), s.lapses, s.absent_pct);
    }
    if let Some(m) = &r.many {
        let _ = writeln!(o, "{n} agents: {n} containers started in {:.1} s; all {n} registered {:.1} s after the agents were spawned. Per-agent RSS median {} (p95 {}); per-agent CPU from utime+stime median {} (p95 {}, max {}); etcd's own CPU in the window {}.\n",
            m.containers_started_s, m.all_registered_s, mib(m.window.per_agent_rss_kb.median), mib(m.window.per_agent_rss_kb.p95), pct(m.window.per_agent_cpu_pct.median), pct(m.window.per_agent_cpu_pct.p95), pct(m.window.per_agent_cpu_pct.max), m.window.etcd_cpu_pct.map(pct).unwrap_or("—".into()), n = m.n);
    }
}

fn host(o: &mut String, r: &Results) {
    let Some(h) = &r.host_mode else { return };
    let w = &h.window;
    let _ = writeln!(o, "### 6. `sidekick host`\n");
    let _ = writeln!(o, "{n} labelled containers started in {:.1} s; `sidekick host` registered all {n} {} after it was spawned (first look at every container, {n} health probes, {n} transactions). Idle over {:.0} s: VmRSS median {} (max {}), of which anonymous {}, file-backed {}; peak (VmHWM) {}; PSS {}; {} threads; CPU {} from utime+stime ({} from schedstat).\n",
        h.containers_started_s, ms(h.all_registered_ms), w.secs, mib(w.rss_kb.median), mib(w.rss_kb.max), mib(w.last.anon as f64), mib(w.last.file as f64), mib(w.last.hwm as f64),
        w.pss_kb.map(|p| mib(p as f64)).unwrap_or("—".into()), w.last.threads, pct(w.cpu_pct), w.cpu_pct_ns.map(pct).unwrap_or("—".into()), n = h.n);
    if let Some(m) = &r.many {
        let _ = writeln!(o, "Side by side, the same {} containers with one `sidekick run` each (figure 4): total VmRSS {} vs {} (PSS {} vs {}), CPU {} vs {} (schedstat), {} processes and unit files vs 1.\n",
            m.n, mib(m.window.total_rss_kb.median), mib(w.rss_kb.median), mib(m.window.total_pss_kb as f64), w.pss_kb.map(|p| mib(p as f64)).unwrap_or("—".into()),
            pct(m.window.total_cpu_pct_ns), w.cpu_pct_ns.map(pct).unwrap_or("—".into()), m.n);
    }
    match &h.publish_fallback {
        None => {
            let _ = writeln!(o, "The containers publish on {} (`-p {}::80`), an address of this host that is not loopback, and the agent probes that address, as it probes a public IP in production: Docker's DNAT rule takes the connection straight to the container.\n", h.publish_ip, h.publish_ip);
        }
        Some(why) => {
            let _ = writeln!(o, "The containers publish on 127.0.0.1, so every probe goes through Docker's userland proxy (docker-proxy), a path production does not take: {why}.\n");
        }
    }
    if let Some(f) = &h.probe_floor {
        let _ = writeln!(o, "Probe floor: a plain blocking prober (std TcpStream, one `GET /health.php` per new connection, nothing else in its thread) on the same {} containers, all back to back every 5 s for {} probes ({} passed): {:.1} µs of CPU per probe (schedstat of its thread), {} of a core at the agent's {:.0} probes/s.\n",
            h.n, f.probes, f.passed, f.us_per_probe, pct(f.pct_at_rate), f.rate_per_s);
    }
    if let Some(np) = &h.no_probe_window {
        let _ = writeln!(o, "The agent without its probes: a second `sidekick host --health-mode none` on the same containers (same lease keepalives, resyncs, etcd connection and Docker stream), idle {:.0} s: CPU {} from utime+stime ({} from schedstat), VmRSS median {}.\n",
            np.secs, pct(np.cpu_pct), np.cpu_pct_ns.map(pct).unwrap_or("—".into()), mib(np.rss_kb.median));
    }
    let mut m: Vec<_> = w.mapping.iter().collect();
    m.sort_by(|a, b| b.1.cmp(a.1));
    let _ = writeln!(
        o,
        "Resident memory by mapping:\n\n| mapping | resident |\n|---|---|"
    );
    for (k, v) in m {
        let _ = writeln!(o, "| {k} | {} |", mib(*v as f64));
    }
    o.push('\n');
    if let Some(b) = h.burst() {
        let spread: Vec<String> = h.burst_spread_ms.iter().map(|x| ms(*x)).collect();
        let _ = writeln!(o, "Bursts: {} × {} `docker run` issued at once (one thread each; the last `start` event came {} after the first run was issued, per burst), with the {} standing containers still managed. Each container's `start` event → its port key received: median {}, p95 {}, min {}, max {}.\n",
            h.bursts, h.burst_size, spread.join(", "), h.n, ms(b.median), ms(b.p95), ms(b.min), ms(b.max));
        let mut v = h.burst_ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let all: Vec<String> = v.iter().map(|x| fmt_num(*x)).collect();
        let _ = writeln!(o, "Every burst sample, sorted (ms): {}.\n", all.join(", "));
        let _ = writeln!(o, "Where the time goes, ms after each container's `start` event (the agent's log lines):\n\n| step | N | median | p95 | min | max |\n|---|---|---|---|---|---|");
        for (i, name) in super::host::BurstSteps::NAMES.iter().enumerate() {
            let v: Vec<f64> = h.burst_steps.iter().filter_map(|s| s.values()[i]).collect();
            if let Some(s) = summarize(&v) {
                let _ = writeln!(
                    o,
                    "| {name} | {} | {} | {} | {} | {} |",
                    s.n,
                    ms(s.median),
                    ms(s.p95),
                    ms(s.min),
                    ms(s.max)
                );
            }
        }
        let _ = writeln!(o, "\nEach phase's own length (the differences of the steps above, per container):\n\n| phase | N | median | p95 | min | max |\n|---|---|---|---|---|---|");
        for (i, name) in super::host::BurstSteps::PHASES.iter().enumerate() {
            let v: Vec<f64> = h.burst_steps.iter().filter_map(|s| s.phases()[i]).collect();
            if let Some(s) = summarize(&v) {
                let _ = writeln!(
                    o,
                    "| {name} | {} | {} | {} | {} | {} |",
                    s.n,
                    ms(s.median),
                    ms(s.p95),
                    ms(s.min),
                    ms(s.max)
                );
            }
        }
        o.push('\n');
    }
    if let Some(f) = summarize(&h.floor_burst_ms) {
        let mut v = h.floor_burst_ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let all: Vec<String> = v.iter().map(|x| fmt_num(*x)).collect();
        let _ = writeln!(o, "Readiness floor of the bursts (after the agent is gone, the same number of bursts of the same size): an ideal agent: each container published on a host port chosen beforehand, one observer thread that polls every container from the moment it sees its `start` event (through `docker events`), round after round 1 ms apart, each connect bounded to 20 ms; its `start` event → its first complete HTTP 200: median {}, p95 {}, min {}, max {} (N={}). No agent can register a container before it answers, and this floor leaves out the inspect an agent needs to learn a Docker-chosen port. Sorted (ms): {}.\n",
            ms(f.median), ms(f.p95), ms(f.min), ms(f.max), f.n, all.join(", "));
    }
    let _ = writeln!(o, "SIGTERM with {} containers registered: the last DELETE arrived {} after the signal; the process exited after {}.\n",
        h.n, ms(h.sigterm_ms), ms(h.exit_ms));
    for e in &h.errors {
        let _ = writeln!(o, "- error: {e}");
    }
    if !h.errors.is_empty() {
        o.push('\n');
    }
}

fn lbsync(o: &mut String, r: &Results) {
    if r.lbsync.is_empty() {
        return;
    }
    let _ = writeln!(o, "### 5. lbsync\n\n| PENDING | change | N | median | p95 | min | max |\n|---|---|---|---|---|---|---|");
    for lb in &r.lbsync {
        for (what, s, _) in lb.summaries() {
            if let Some(s) = s {
                let _ = writeln!(
                    o,
                    "| {} ms | {what} | {} | {} | {} | {} | {} |",
                    lb.pending_ms,
                    s.n,
                    ms(s.median),
                    ms(s.p95),
                    ms(s.min),
                    ms(s.max)
                );
            }
        }
    }
    let _ = writeln!(o, "\nAPI calls per change (emulator counters, identity excluded):\n\n| PENDING | change | nodes | POST nodes | DELETE nodes | GET loadbalancer | other | total | time to converge | by method, route, status |\n|---|---|---|---|---|---|---|---|---|---|");
    for lb in &r.lbsync {
        for c in &lb.calls {
            let routes: Vec<String> = c
                .by_route
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = writeln!(
                o,
                "| {} ms | {} {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                lb.pending_ms,
                c.op,
                c.n,
                c.nodes,
                c.post_nodes,
                c.delete_nodes,
                c.get_lb,
                c.other,
                c.total,
                ms(c.ms),
                routes.join(", ")
            );
        }
    }
    o.push('\n');
}

fn method(o: &mut String, plan: &Plan) {
    let _ = writeln!(o, "## Method\n");
    let lines = [
        "Everything runs on this host over loopback: etcd 3.4 from the test harness (one member, its own temp dir), containers from the harness's FROM-scratch web image (busybox httpd), the release-profile `sidekick` binary (`CARGO_BIN_EXE_sidekick` of `cargo bench`, or `$BENCH_SIDEKICK_BIN` when set).".to_string(),
        format!("Registration/deregistration (figures 1-3): one container published on a fixed `127.0.0.1:PORT:80`, ignoring SIGTERM, `--stop-timeout {}`. Each cycle: `POST /containers/ID/stop?t={}` over the Docker socket, then `POST /containers/ID/start`, with a random 100-400 ms pause between. Docker events come from a `docker events --format '{{{{json .}}}}'` child (its `timeNano`); etcd events from the harness `Watcher` (own thread and runtime, receive `Instant`s mapped to wall-clock nanoseconds by an anchor taken right before each action). Registration ends at the receipt of the last of the five PUTs; deregistration at the DELETE after which no key of the five is present. Agent: default intervals (5 s probe, 2 s timeout, 15 s TTL), `RUST_LOG=info,sidekick=debug` for the step timings. Cycles: {} for `sidekick run`, {} for the shell loop (each of its cycles waits for the loop's next 10 s turn).", super::registration::STOP_SECS, super::registration::STOP_SECS, plan.sidekick_n, plan.shell_n),
        format!("Footprint (figure 4): after registration and {} s of settling, a {} s window. RSS: VmRSS from /proc/PID/status every 1 s (agents) or summed over the loop's live process tree every 10 ms (shell). CPU: growth of utime+stime from /proc/PID/stat over the window ÷ wall time (100 % = one core; tick resolution 10 ms, i.e. {:.3} % over the window), and for agents also the growth of their threads' on-CPU nanoseconds from /proc/PID/task/*/schedstat (exact; the agent runs one thread); CPU verdicts take the larger of the two. Shell tree CPU = Σ over the tree's live processes of (utime+stime+cutime+cstime), so children that ran and were reaped inside the window count. Default `RUST_LOG=info`. The agents talk to the container through Docker's userland proxy, whose CPU is not counted.", plan.settle.as_secs(), plan.idle.as_secs(), 1.0 / plan.idle.as_secs_f64()),
        format!("`sidekick host` (figure 6): {} containers labelled `sidekick.key` (and a per-run label the agent is told to require) started 4 at a time (first a fifth, then half, then all; at the first two steps a fresh agent idles half the window for the footprint figure and is stopped), then the agent spawned with default intervals; registration ends at the receipt of the last port key. After {} s of settling, the same {} s window as figure 4. Bursts: N `docker run` from N threads at once; Docker's `start` events come from a `docker events --filter label=…` child; the port key's receipt is mapped to wall-clock time by an anchor taken right before the burst. The burst's containers are removed (their keys deleted) before the next burst. SIGTERM: the signal → the receipt of the last DELETE under the prefix. Every container's writer shares the host's one etcd connection pool and one lease, so SIGTERM is one revoke. The containers publish on a TEST-NET-2 address the bench adds to `lo` for the run (`BENCH_HOST_PUBLISH_IP` overrides it; 127.0.0.1 without root), so that probes take Docker's DNAT path as probes of a real public address do, not docker-proxy. Then, in this order: the probe floor (a plain blocking prober thread over the same containers, all back to back every 5 s for 30 s, its thread's schedstat), SIGTERM, a second agent with `--health-mode none` on the same containers (half the idle window), and after the containers are removed the bursts' readiness floor (the same bursts with no agent; an observer thread that knows each host port in advance and polls a container from its `start` event on).", plan.many_n, plan.settle.as_secs(), plan.idle.as_secs()),
        format!("Idle raft proposals (figure 7): one `sidekick run` (TTL 5 s) and one `sidekick lbsync --backend nginx` (check and reload `true`, election TTL 5 s) on one etcd member; after both settled (the upstream lists the agent, lbsync leads) and {} s more, etcd's `raft_index` (the status call behind `etcdctl endpoint status -w json`) before and after a {} s window. Keepalives, reads and watches are not proposals: the target is 0.", plan.settle.as_secs(), plan.idle.as_secs()),
        format!("lbsync (figure 5): the real `sidekick lbsync --backend rackspace` binary with `--allow-empty --resync-interval 1h` (the periodic pass would otherwise add calls), real etcd, the in-process `clb_emulator` (rate limits off, node limit 25, bulk-delete limit 10). (a) {} rounds of: LB idle → put one instance (five keys, one txn) → node appears; idle → delete its keys (one delete-range) → node gone; at once add again (the LB is still PENDING_UPDATE from the delete) → appears; at once delete → gone. Clock starts right before the etcd request; the emulator's state is polled every 1 ms. (b) adds of N instances at once (in transactions of up to 25 instances) to an empty LB; removes of N from an LB holding them (set up directly in the emulator, 30 exceeding the node limit) by one delete-range of the prefix. (c) A sampler reads the emulator's `GET loadbalancer` counter every 20 ms during (a) and (b); the row is the most GETs in any one-second window. (d) `sidekick lbsync --backend nginx` (check and reload `true`: the upstream file is measured) over 20 000 instances in the 5-key layout written beforehand (in steps of 2 000, 5 000, 10 000, 15 000 and 20 000, a fresh lbsync timed at each step for the convergence figure; SIGTERM between them) in transactions of 25 instances: start → the file holds all 20 000 (polled every 5 ms); VmRSS then; utime+stime over {} s of 100 changes/s (one instance's port key rewritten every 10 ms) until the file matches etcd again; the time from the last change to that match.", plan.lbsync_n, if plan.quick { 10 } else { 60 }),
    ];
    for l in lines {
        let _ = writeln!(o, "- {l}");
    }
}

pub fn render(r: &Results, plan: &Plan) -> String {
    let mut o = String::new();
    registration(&mut o, r);
    shell(&mut o, r);
    footprint(&mut o, r);
    host(&mut o, r);
    lbsync(&mut o, r);
    method(&mut o, plan);
    o
}
