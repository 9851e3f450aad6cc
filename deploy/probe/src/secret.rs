//! `ferry-probe init-secret PATH [UID:GID]`: writes a random cluster secret to
//! `PATH` unless a file is there already, so that a compose project's one-shot
//! service can make the secret on first start and keep it on every later one.
//! The image has no shell, hence this mode of a binary it already ships.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Runs the mode; the error says what failed.
pub fn init(args: &[String]) -> Result<(), String> {
    let (path, owner) = match args {
        [path] => (Path::new(path), None),
        [path, owner] => (Path::new(path), Some(parse_owner(owner)?)),
        _ => return Err("usage: ferry-probe init-secret PATH [UID:GID]".into()),
    };
    if path.exists() {
        eprintln!("init-secret: {} exists; kept", path.display());
        return Ok(());
    }
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .map_err(|e| format!("reading /dev/urandom: {e}"))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o400)
        .open(&tmp)
        .map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    writeln!(f, "{hex}")
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&tmp, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", tmp.display()))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!(
        "init-secret: wrote a new cluster secret to {}",
        path.display()
    );
    Ok(())
}

fn parse_owner(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("owner '{s}' is not UID:GID");
    let (u, g) = s.split_once(':').ok_or_else(bad)?;
    Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
}
