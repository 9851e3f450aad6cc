//! Finding the `ferry-controller` and `ferry-broker` binaries the cluster runs.

use ferry_local_cluster::NodeKind;
use std::path::PathBuf;

/// The directory holding the binaries for `kinds`: `FERRY_BIN_DIR` if set,
/// else the cargo target dir of the running test (a test runs from
/// `target/<profile>/deps/`, the binaries sit in `target/<profile>/`).
///
/// Panics with what to build when a binary is missing.
pub fn bin_dir(kinds: &[NodeKind]) -> PathBuf {
    let dir = match std::env::var_os("FERRY_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
            .unwrap_or_else(|| panic!("cannot locate the test executable's target dir")),
    };
    for kind in kinds {
        let bin = dir.join(kind.binary());
        assert!(
            bin.exists(),
            "{} is not built in {}; run `cargo build -p ferry-controller -p ferry-broker` \
             (`cargo test --workspace` builds both) or point FERRY_BIN_DIR at the binaries",
            kind.binary(),
            dir.display()
        );
    }
    dir
}
