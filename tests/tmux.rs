//! The real binary in a real terminal (tmux): open the demo store, decide samples with keys,
//! start a short training round from the menu on the CPU, see its progress on screen, quit,
//! and check the store. Skipped, with the reason printed, where tmux is not installed.

mod common;

use common::{stdout, thresh};
use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let o = Command::new("tmux").args(args).output().expect("run tmux");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn wait_for(session: &str, what: &str, secs: u64) -> String {
    let t = Instant::now();
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", session]);
        if screen.contains(what) || t.elapsed() > Duration::from_secs(secs) {
            return screen;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn keys(session: &str, keys: &[&str]) {
    for k in keys {
        tmux(&["send-keys", "-t", session, k]);
        std::thread::sleep(Duration::from_millis(150));
    }
}

#[test]
fn a_round_in_tmux_with_the_real_binary() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: tmux is not installed (.ci/run installs it)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = thresh(
        tmp.path(),
        &["demo", "--no-tui", "--n", "200", "--out", "demo"],
    );
    assert!(o.status.success());
    let session = format!("thresh-test-{}", std::process::id());
    let cmd = format!(
        "cd {} && THRESH_UI_EPOCHS=2 {} --backend cpu; sleep 30",
        tmp.path().display(),
        env!("CARGO_BIN_EXE_thresh")
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "48",
        &cmd,
    ]);
    let kill = || tmux(&["kill-session", "-t", &session]);
    let screen = wait_for(&session, "queue:", 20);
    assert!(screen.contains("thresh"), "{screen}");
    // Menu → draw a seed set; accept the first page minus one marked exception.
    keys(&session, &["m", "Down", "Down", "Enter"]);
    let screen = wait_for(&session, "to certify", 10);
    assert!(screen.contains("queue: certify"), "{screen}");
    keys(&session, &["Space", "a"]);
    let screen = wait_for(&session, "saved", 10);
    assert!(screen.contains("accepted"), "{screen}");
    // Accept the rest page by page, then train a round from the menu.
    for _ in 0..6 {
        keys(&session, &["a"]);
    }
    keys(&session, &["m", "Enter"]);
    let progress = wait_for(&session, "epoch 2/2", 120);
    let done = wait_for(&session, "to review", 180);
    keys(&session, &["q"]);
    std::thread::sleep(Duration::from_millis(500));
    kill();
    println!("--- capture-pane during training ---\n{progress}\n--- after ---\n{done}");
    assert!(
        progress.contains("Training") && progress.contains("epoch"),
        "{progress}"
    );
    assert!(done.contains("round 1"), "{done}");
    // The store has what the keys did.
    let o = thresh(tmp.path(), &["--json", "stats"]);
    let stats: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(
        stats["states"]["certified"].as_u64().unwrap() >= 150,
        "{stats}"
    );
    let o = thresh(tmp.path(), &["--json", "stats", "--rounds"]);
    assert!(stdout(&o).contains("\"round\":1"), "{}", stdout(&o));
}
