//! The real binary in a real terminal (tmux): open the demo store, decide samples with keys,
//! start a short training round from the menu on the CPU, see its progress on screen, quit,
//! and check the store. tmux is required: `.ci/run` installs it, and the test fails without it.

mod common;

use common::{stdout, thresh};
use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let o = Command::new("tmux").args(args).output().expect("run tmux");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The screen once it shows `what`; fails the test (with the screen) after `secs`.
fn wait_for(session: &str, what: &str, secs: u64) -> String {
    let t = Instant::now();
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", session]);
        if screen.contains(what) {
            return screen;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{what:?} did not appear within {secs} s; the screen:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills the tmux session when the test ends, passed or failed.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
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
    let version = Command::new("tmux").arg("-V").output();
    assert!(
        version.is_ok_and(|o| o.status.success()),
        "tmux is required for this test (.ci/run installs it)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let o = thresh(
        tmp.path(),
        &["demo", "--no-tui", "--n", "500", "--out", "demo"],
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
    let guard = Session(session);
    let session = guard.0.as_str();
    let screen = wait_for(session, "queue:", 20);
    assert!(screen.contains("thresh"), "{screen}");
    // Menu → draw a seed set; accept the first page minus one marked exception.
    keys(session, &["m", "Down", "Down", "Enter"]);
    let screen = wait_for(session, "to certify", 10);
    assert!(screen.contains("queue: certify"), "{screen}");
    keys(session, &["Space", "a"]);
    let screen = wait_for(session, "saved", 10);
    assert!(screen.contains("accepted"), "{screen}");
    // Accept the rest of the seed set (200 of the 500 files) page by page, then train a
    // round from the menu on it: the other files are left to score.
    for _ in 0..6 {
        keys(session, &["a"]);
    }
    keys(session, &["m", "Enter"]);
    let progress = wait_for(session, "epoch 2/2", 120);
    let done = wait_for(session, "to review", 180);
    // The map: laid out on the store worker, drawn in braille; the cursor moves and `enter`
    // opens the sample nearest to it.
    keys(session, &["Escape", "BTab"]);
    let map = wait_for(session, "Map of round 1", 120);
    assert!(
        map.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)),
        "no braille dots on the map:\n{map}"
    );
    let near = |screen: &str| {
        screen
            .lines()
            .find_map(|l| l.split("cursor near ").nth(1))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let before = near(&map);
    keys(session, &["Right", "Right", "Right", "Up", "Up"]);
    let moved = wait_for(session, "cursor near", 5);
    println!("--- the map ---\n{moved}");
    keys(session, &["Enter"]);
    let sample = wait_for(session, "history", 10);
    let opened = near(&moved);
    let id = opened
        .rsplit('(')
        .next()
        .unwrap_or("")
        .trim_end_matches(')')
        .to_string();
    assert!(!id.is_empty(), "{moved}");
    assert!(
        sample.contains(&id),
        "sample {id} (was {before}) not opened:\n{sample}"
    );
    keys(session, &["q"]);
    std::thread::sleep(Duration::from_millis(500));
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
