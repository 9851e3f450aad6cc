//! Starting detached node processes and signalling them through pid files.

use anyhow::{bail, Context, Result};
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `bin` with `args`, output appended to `log`, in its own session so it
/// outlives the runner and a Ctrl-C in the runner's terminal does not reach it.
/// With `cgroup_procs` (a cgroup's `cgroup.procs` file) the child joins that
/// cgroup before it execs, so every socket it ever opens belongs to the
/// cgroup (sockets keep the cgroup they were created in).
pub fn spawn_detached(
    bin: &Path,
    args: &[&str],
    envs: &[(String, String)],
    log: &Path,
    cgroup_procs: Option<&Path>,
) -> Result<Child> {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(bin);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let procs = cgroup_procs
        .map(|p| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()))
        .transpose()
        .context("cgroup path contains a NUL byte")?;
    // SAFETY: setsid, open, write and close are async-signal-safe, and the
    // closure only reads memory prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            if let Some(procs) = &procs {
                // "0" moves the writing process: this child, before exec.
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                let err = std::io::Error::last_os_error();
                libc::close(fd);
                if !ok {
                    return Err(err);
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
        .with_context(|| format!("starting {}", bin.display()))
}

/// The pid in `pid_file` if that process is alive and runs `bin_name`.
pub fn running_pid(pid_file: &Path, bin_name: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if pid <= 0 || !is_our_process(pid, bin_name) {
        return None;
    }
    Some(pid)
}

/// Alive (not a zombie) and its command line names `bin_name` (guards against pid reuse).
fn is_our_process(pid: i32, bin_name: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Field 3 is the state; Z (zombie) and X (dead) count as gone.
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    if matches!(state, Some('Z') | Some('X') | None) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(bin_name))
        .unwrap_or(false)
}

/// Sends `sig` to `pid`.
pub fn signal(pid: i32, sig: i32) -> Result<()> {
    // SAFETY: plain syscall on a pid we started.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        bail!(
            "kill({pid}, {sig}) failed: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Waits until `pid` no longer runs `bin_name`; false on timeout.
pub fn wait_gone(pid: i32, bin_name: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !is_our_process(pid, bin_name) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !is_our_process(pid, bin_name)
}
