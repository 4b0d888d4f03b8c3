//! The `thresh` binary: the demo path of the README, figures checked against truth.csv,
//! and one-line failures.

mod common;

use common::{stderr, stdout, thresh};
use std::collections::HashMap;
use thresh::store::{Store, StoreSettings};

#[test]
fn demo_stats_and_dups_agree_with_the_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let o = thresh(
        cwd,
        &[
            "--store", "st", "demo", "--no-tui", "--n", "400", "--out", "demo",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("demo: 400 files"), "{}", stdout(&o));

    let truth = thresh::demo::read_truth(&cwd.join("demo/truth.csv")).unwrap();
    let corrupt = truth.iter().filter(|r| r.truth == "corrupt").count();
    let exact = truth.iter().filter(|r| r.flaw == "exact_dup").count();

    let o = thresh(cwd, &["--store", "st", "--json", "stats"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let stats: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    // Every readable file is a source; identical files share one sample.
    assert_eq!(stats["sources"], 400 - corrupt);
    let samples = stats["samples"].as_u64().unwrap() as usize;
    assert!(samples <= 400 - corrupt - exact, "{samples} samples");
    let classes: Vec<String> = stats["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(classes, thresh::demo::CLASSES);

    let o = thresh(cwd, &["--store", "st", "dups", "--csv", "d.csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(cwd.join("d.csv")).unwrap();
    assert!(text.starts_with("path,group,stage,distance,kept\n"));
    let mut group_of: HashMap<String, String> = HashMap::new();
    let mut dup_rows = 0;
    let mut r = csv::Reader::from_path(cwd.join("d.csv")).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        group_of.insert(rec[0].to_string(), rec[1].to_string());
        dup_rows += (&rec[4] == "false") as usize;
    }
    // Each exact copy sits in the same group as its original.
    let base = cwd.join("demo").canonicalize().unwrap();
    for row in truth.iter().filter(|r| r.flaw == "exact_dup") {
        let a = base.join(&row.path).display().to_string();
        let b = base.join(&row.dup_of).display().to_string();
        assert!(group_of.contains_key(&a), "{a} not in dups.csv");
        assert_eq!(
            group_of.get(&a),
            group_of.get(&b),
            "{} and {} apart",
            row.path,
            row.dup_of
        );
    }
    // Non-kept rows = extra sources + duplicate-state samples' sources.
    assert!(dup_rows >= exact);
    let states = &stats["states"];
    assert!(states["duplicate"].as_u64().unwrap() > 0);

    // Running the demo again changes nothing in the store.
    let o = thresh(
        cwd,
        &[
            "--store", "st", "--json", "demo", "--no-tui", "--n", "400", "--out", "demo",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let again: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(again["import"]["added"], 0);
    assert_eq!(again["dedup"]["marked"], 0);
}

#[test]
fn a_store_held_by_another_process_is_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("st");
    let _held = Store::open_or_create(&dir, &StoreSettings::default()).unwrap();
    let o = thresh(tmp.path(), &["--store", dir.to_str().unwrap(), "stats"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "thresh: store {} is in use by another thresh process\n",
            dir.display()
        )
    );
}

#[test]
fn failures_exit_nonzero_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let o = thresh(cwd, &["--store", "st", "stats"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 1);
    assert!(stderr(&o).contains("no store at st"), "{}", stderr(&o));

    let o = thresh(cwd, &["--store", "st", "import", "nowhere"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 1);
    assert!(stderr(&o).contains("nowhere"), "{}", stderr(&o));

    // A store written by a newer thresh is refused, and left as it was.
    {
        let s = Store::open_or_create(&cwd.join("new"), &StoreSettings::default()).unwrap();
        s.force_schema_version(99).unwrap();
    }
    let o = thresh(cwd, &["--store", "new", "stats"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("schema version 99, newer than this thresh supports"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn import_json_lists_skipped_files() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    common::write(
        &cwd.join("data/a/ok.png"),
        &common::png(8, 8, |x, y| (x * y) as u8),
    );
    common::write(&cwd.join("data/a/bad.png"), b"nope");
    let o = thresh(cwd, &["--store", "st", "--json", "import", "data"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["added"], 1);
    assert_eq!(v["store"]["size"], 32);
    assert_eq!(v["store"]["channels"], 1);
    assert_eq!(v["skipped"][0]["kind"], "not-image");
    assert!(v["skipped"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("data/a/bad.png"));
}

/// Output into a pipe nobody reads (`thresh stats | head -0`) ends the process quietly by
/// SIGPIPE — it used to panic in println! with a backtrace.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::os::fd::FromRawFd;
    use std::os::unix::process::ExitStatusExt;
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    common::write(
        &cwd.join("data/a/x.png"),
        &common::png(8, 8, |x, _| x as u8),
    );
    assert!(thresh(cwd, &["import", "data"]).status.success());
    let mut fds = [0i32; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // The read end is closed before thresh starts: its first write meets a closed pipe.
    unsafe { libc::close(fds[0]) };
    let out = unsafe { std::process::Stdio::from_raw_fd(fds[1]) };
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_thresh"))
        .current_dir(cwd)
        .env_remove("THRESH_STORE")
        .arg("stats")
        .stdout(out)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.signal(), Some(libc::SIGPIPE), "{:?}", o.status);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}
