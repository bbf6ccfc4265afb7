use super::*;

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn success_failure_and_output() {
    assert_eq!(execute("true", T).await, Ok(()));
    let f = execute("echo out; echo err >&2; exit 3", T)
        .await
        .unwrap_err();
    assert_eq!(f.failure, Failure::Exit(3));
    assert!(
        f.output.contains("out") && f.output.contains("err"),
        "{f:?}"
    );
    assert_eq!(execute("false", T).await.unwrap_err().output, "(no output)");
}

#[tokio::test]
async fn missing_program_is_named() {
    let f = execute("no-such-program-sidekick -t", T).await.unwrap_err();
    assert_eq!(f.failure, Failure::NotFound);
    assert!(f.output.contains("no-such-program-sidekick"), "{f:?}");
}

#[tokio::test]
async fn timeout_kills_the_whole_group_promptly() {
    let started = std::time::Instant::now();
    // The grandchild `sleep` keeps running unless the group is killed; the capture file
    // means its open stdout cannot make us wait for it either.
    let f = execute("sleep 30 & sleep 30", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(f.failure, Failure::Timeout(Duration::from_millis(200)));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn tidy_trims_and_caps_on_a_char_boundary() {
    assert_eq!(tidy("  x \n"), "x");
    let long = "é".repeat(OUTPUT_CAP);
    let t = tidy(&long);
    assert!(t.ends_with("bytes]") && t.len() < OUTPUT_CAP + 40);
}
