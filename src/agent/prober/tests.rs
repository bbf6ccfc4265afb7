use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::*;

fn outcome(pass: bool) -> Outcome {
    Outcome {
        pass,
        status: None,
        observed_sha1: None,
        expected_sha1: None,
        body_bytes: None,
        error: (!pass).then(|| "refused".into()),
        elapsed_ms: 0,
    }
}

fn target(generation: u64) -> Target {
    Target {
        generation,
        probe: Probe::Tcp {
            addr: "127.0.0.1:1".parse().unwrap(),
        },
    }
}

/// A scripted probe: answers from `script` in order (then the last answer forever) and records
/// when it was called, in paused tokio time.
fn scripted(
    script: Vec<bool>,
) -> (
    impl Fn(Probe) -> std::future::Ready<Outcome>,
    Arc<Mutex<Vec<Duration>>>,
) {
    let start = Instant::now();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let f = move |_p: Probe| {
        let mut calls = c.lock().unwrap();
        let i = calls.len().min(script.len() - 1);
        calls.push(start.elapsed());
        std::future::ready(outcome(script[i]))
    };
    (f, calls)
}

const SCHEDULE: Schedule = Schedule {
    interval: Duration::from_secs(5),
    rise: 1,
    fall: 2,
};

#[test]
fn next_delay_waits_a_quarter_of_the_retrying_then_10ms_for_2s_then_grows_to_the_interval() {
    let mut retry = Retry::new();
    let i = Duration::from_secs(5);
    let delays: Vec<Duration> = (0..221)
        .map(|_| next_delay(false, false, &mut retry, i))
        .collect();
    let us: Vec<u128> = delays.iter().map(|d| d.as_micros()).collect();
    assert_eq!(&us[..8], &[1000, 1000, 1000, 1000, 1000, 1250, 1562, 1953]);
    let mut waited = Duration::ZERO;
    for d in &delays[..211] {
        let want = (waited / 4).clamp(Duration::from_millis(1), Duration::from_millis(10));
        assert_eq!(*d, want, "{us:?}");
        waited += *d;
    }
    // The first 16 retries cover the first 57 ms, where a lone container starts listening.
    assert!(delays[..16].iter().sum::<Duration>() < Duration::from_millis(57));
    assert!(waited >= FAST_PHASE, "the fast phase lasts 2 s of retries");
    let ms: Vec<u128> = delays[211..].iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms, &[20, 40, 80, 160, 320, 640, 1280, 2560, 5000, 5000]);
    assert_eq!(next_delay(true, true, &mut retry, i), i);
    assert_eq!(retry, Retry::new(), "a pass resets the fast retry");
    assert_eq!(
        next_delay(true, false, &mut retry, i),
        Duration::from_millis(1250)
    );
}

#[test]
fn a_target_that_hangs_every_probe_leaves_the_fast_phase_after_2s_too() {
    let mut retry = Retry::new();
    let i = Duration::from_secs(5);
    // One probe that took its whole 2 s timeout uses the fast phase up.
    retry.spent(Duration::from_secs(2));
    let d: Vec<u128> = (0..4)
        .map(|_| next_delay(false, false, &mut retry, i).as_millis())
        .collect();
    assert_eq!(d, vec![20, 40, 80, 160]);
}

#[tokio::test(start_paused = true)]
async fn first_probe_is_immediate_and_retries_are_fast_until_it_passes() {
    let (probe, calls) = scripted(vec![false, false, false, true]);
    let (ttx, trx) = watch::channel(Some(target(1)));
    let (rtx, mut rrx) = mpsc::channel(16);
    let task = tokio::spawn(run(probe, trx, rtx, SCHEDULE));
    let mut reports = Vec::new();
    while reports.len() < 5 {
        reports.push(rrx.recv().await.unwrap());
    }
    let at: Vec<u128> = calls
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.as_millis())
        .collect();
    assert_eq!(
        &at[..5],
        &[0, 1, 2, 3, 5003],
        "immediate, 1 ms retries, then the interval"
    );
    assert_eq!(reports[3].transition, Transition::Rose);
    assert!(reports[3].healthy);
    drop(ttx);
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn fall_two_needs_two_failures_and_confirms_within_a_quarter_interval() {
    let (probe, calls) = scripted(vec![true, false, false, false]);
    let (_ttx, trx) = watch::channel(Some(target(1)));
    let (rtx, mut rrx) = mpsc::channel(16);
    tokio::spawn(run(probe, trx, rtx, SCHEDULE));
    let r: Vec<Report> = vec![
        rrx.recv().await.unwrap(),
        rrx.recv().await.unwrap(),
        rrx.recv().await.unwrap(),
    ];
    assert_eq!(r[0].transition, Transition::Rose);
    assert_eq!(r[1].transition, Transition::Steady);
    assert!(r[1].healthy, "one failure is damped");
    assert_eq!(r[2].transition, Transition::Fell);
    let at: Vec<u128> = calls
        .lock()
        .unwrap()
        .iter()
        .map(|d| d.as_millis())
        .collect();
    assert_eq!(&at[..3], &[0, 5000, 6250]);
}

#[tokio::test(start_paused = true)]
async fn a_new_target_restarts_at_once_with_fresh_damping() {
    let (probe, calls) = scripted(vec![true]);
    let (ttx, trx) = watch::channel(Some(target(1)));
    let (rtx, mut rrx) = mpsc::channel(16);
    tokio::spawn(run(probe, trx, rtx, SCHEDULE));
    assert_eq!(rrx.recv().await.unwrap().transition, Transition::Rose);
    tokio::time::sleep(Duration::from_secs(1)).await;
    ttx.send(Some(target(2))).unwrap();
    let r = rrx.recv().await.unwrap();
    assert_eq!(
        (r.generation, r.transition),
        (2, Transition::Rose),
        "damper reset for the new target"
    );
    assert_eq!(
        calls.lock().unwrap()[1].as_millis(),
        1000,
        "probed at once, not after the interval"
    );
    ttx.send(None).unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(calls.lock().unwrap().len(), 2, "no target, no probes");
}
