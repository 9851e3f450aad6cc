//! Running the `ferry` binary the way a user does, for the CLI tests.

use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `ferry --bootstrap BOOTSTRAP ARGS` with `stdin` on its standard
/// input, as `user` (FERRY_USER / FERRY_PASSWORD) or with neither set;
/// answers whether it succeeded, its stdout and its stderr.
pub fn ferry(
    bootstrap: &str,
    user: Option<(&str, &str)>,
    args: &[&str],
    stdin: &str,
) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(["--bootstrap", bootstrap])
        .env_remove("FERRY_USER")
        .env_remove("FERRY_PASSWORD");
    if let Some((u, p)) = user {
        cmd.env("FERRY_USER", u).env("FERRY_PASSWORD", p);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
