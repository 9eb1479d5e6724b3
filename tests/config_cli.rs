//! Configuration errors and `tidings check`, through the real binary.

mod common;

use assert_cmd::Command;
use common::{Sandbox, stderr, stdout};

fn assert_config_error(config: &str, expected_in_message: &[&str]) {
    let sandbox = Sandbox::with_config_text(config);
    let output = sandbox.run(&["check"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "config:\n{config}\nstdout: {}",
        stdout(&output)
    );
    let message = stderr(&output);
    for expected in expected_in_message {
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
    }
}

#[test]
fn unknown_keys_are_named() {
    assert_config_error(
        "[output]\ndirectory = \"x\"\n",
        &["directory", "tidings.toml"],
    );
    assert_config_error(
        "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\nshedule = \"@hourly\"\n",
        &["shedule"],
    );
}

#[test]
fn duplicate_and_unsafe_names_are_refused() {
    assert_config_error(
        "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\n[[feeds]]\nname = \"a\"\nurl = \"https://b.example/\"\n",
        &["feeds[1].name", "duplicate"],
    );
    assert_config_error(
        "[[feeds]]\nname = \"../../etc\"\nurl = \"https://a.example/\"\n",
        &["feeds[0].name", "not safe"],
    );
}

#[test]
fn bad_urls_schedules_zones_and_templates_are_refused() {
    assert_config_error(
        "[[feeds]]\nname = \"a\"\nurl = \"ftp://a.example/\"\n",
        &["feeds[0].url"],
    );
    assert_config_error(
        "[[feeds]]\nname = \"a\"\nurl = \"not a url\"\n",
        &["feeds[0].url"],
    );
    assert_config_error(
        "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\nschedule = \"every hour\"\n",
        &["feeds[0].schedule"],
    );
    assert_config_error(
        "[output]\ntimezone = \"Mars/Olympus\"\n",
        &["output.timezone"],
    );
    assert_config_error("[output]\npath = \"../{slug}.md\"\n", &["output.path"]);
}

#[test]
fn broken_toml_is_reported_with_its_line() {
    assert_config_error("[[feeds]\nname = \"a\"\n", &["line 1"]);
}

#[test]
fn missing_config_file_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::cargo_bin("tidings")
        .expect("binary")
        .args(["--config", "does-not-exist.toml", "fetch"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("does-not-exist.toml"));
}

#[test]
fn config_is_found_through_the_environment_and_after_the_subcommand() {
    let sandbox = Sandbox::with_config_text(
        "[[feeds]]\nname = \"envfeed\"\nurl = \"https://a.example/feed\"\n",
    );
    let from_env = Command::cargo_bin("tidings")
        .expect("binary")
        .arg("check")
        .env("TIDINGS_CONFIG", sandbox.config_path())
        .current_dir(sandbox.dir.path())
        .output()
        .expect("run");
    assert_eq!(from_env.status.code(), Some(0), "{}", stderr(&from_env));
    assert!(stdout(&from_env).contains("envfeed"));

    let after = Command::cargo_bin("tidings")
        .expect("binary")
        .arg("check")
        .arg("--config")
        .arg(sandbox.config_path())
        .env_remove("TIDINGS_CONFIG")
        .output()
        .expect("run");
    assert_eq!(after.status.code(), Some(0), "{}", stderr(&after));
    assert!(stdout(&after).contains("envfeed"));
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let sandbox = Sandbox::with_config_text(
        "[storage]\ndatabase = \"db/t.db\"\n[output]\ndir = \"out\"\n[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\n",
    );
    // Run from another folder: the paths must still point into the config's folder.
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let output = Command::cargo_bin("tidings")
        .expect("binary")
        .arg("--config")
        .arg(sandbox.config_path())
        .arg("check")
        .current_dir(elsewhere.path())
        .output()
        .expect("run");
    let out = stdout(&output);
    let root = std::fs::canonicalize(sandbox.dir.path()).expect("canonical");
    assert!(
        out.contains(&root.join("db/t.db").display().to_string())
            || out.contains(&sandbox.dir.path().join("db/t.db").display().to_string()),
        "{out}"
    );
    assert!(out.contains("/out/"), "{out}");
}

#[test]
fn shipped_example_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/tidings.toml");
    let output = Command::cargo_bin("tidings")
        .expect("binary")
        .arg("--config")
        .arg(&path)
        .arg("check")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("techcrunch"));
}

#[test]
fn usage_errors_exit_2() {
    let output = Command::cargo_bin("tidings")
        .expect("binary")
        .arg("frobnicate")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn configurations_that_would_fail_later_are_refused_by_check() {
    assert_config_error(
        "[fetch]\nuser_agent = \"reader\\nX-Evil: 1\"\n",
        &["fetch.user_agent", "one line"],
    );
    assert_config_error(
        "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/\"\nschedule = \"0 0 30 2 *\"\n",
        &["feeds[0].schedule", "never fires"],
    );
    assert_config_error(
        "[[feeds]]\nname = \"a\"\nurl = \"https://a.example/feed\"\n[[feeds]]\nname = \"b\"\nurl = \"https://a.example/feed\"\n",
        &["feeds[1].url", "feeds[0]"],
    );
    assert_config_error(
        "[[feeds]]\nname = \"News\"\nurl = \"https://a.example/\"\n[[feeds]]\nname = \"news\"\nurl = \"https://b.example/\"\n",
        &["feeds[1].name", "case"],
    );
    assert_config_error("[daemon]\nlisten = \"localhost\"\n", &["daemon.listen"]);
}
