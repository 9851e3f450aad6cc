//! Issue 11 item 2, the crash-safety audit as a test: every raw
//! file-writing call in the broker, the controller and the local runner
//! (outside test code) must be listed, with the reason it survives a power
//! cut, in `deploy/powercut/file-writes.tsv`. A new call fails here until
//! someone says why it is crash-safe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What counts as writing a file, creating or removing a name.
const CALLS: &[&str] = &[
    "fs::write",
    "File::create",
    "OpenOptions",
    "rename(",
    "set_len(",
    "remove_file",
    "remove_dir",
    "create_dir",
    "write_all(",
    "write_all_at(",
    "write_at(",
    "File::options",
    "fs::copy",
    "hard_link",
    "symlink(",
];
const ROOTS: &[&str] = &["broker/src", "controller/src", "deploy/local-cluster/src"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn is_test_file(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name == "tests.rs"
        || name.ends_with("_tests.rs")
        || p.components().any(|c| c.as_os_str() == "tests")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") && !is_test_file(&p) {
            out.push(p);
        }
    }
}

/// (file, call) -> count in the source, test modules cut off.
fn found() -> BTreeMap<(String, String), usize> {
    let root = workspace();
    let mut files = Vec::new();
    for r in ROOTS {
        rust_files(&root.join(r), &mut files);
    }
    let mut out = BTreeMap::new();
    for f in files {
        let text =
            std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("reading {}: {e}", f.display()));
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let rel = f
            .strip_prefix(&root)
            .unwrap_or(&f)
            .to_string_lossy()
            .replace('\\', "/");
        for call in CALLS {
            let n = code.matches(call).count();
            if n > 0 {
                out.insert((rel.clone(), call.to_string()), n);
            }
        }
    }
    out
}

/// (file, call) -> (count, reason) from the checked-in list.
fn listed() -> BTreeMap<(String, String), (usize, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("file-writes.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            cols.len(),
            4,
            "file-writes.tsv line {}: file, call, count, reason",
            i + 1
        );
        let n: usize = cols[2]
            .parse()
            .unwrap_or_else(|_| panic!("line {}: count", i + 1));
        assert!(
            cols[3].len() > 20,
            "line {}: say why it is crash-safe",
            i + 1
        );
        out.insert(
            (cols[0].to_string(), cols[1].to_string()),
            (n, cols[3].to_string()),
        );
    }
    out
}

#[test]
fn every_file_write_in_broker_controller_and_runner_is_listed_with_why_it_is_crash_safe() {
    let found = found();
    let listed = listed();
    let mut problems = Vec::new();
    for ((file, call), n) in &found {
        match listed.get(&(file.clone(), call.clone())) {
            None => problems.push(format!("{file}: {n} × `{call}` not in file-writes.tsv")),
            Some((m, _)) if m != n => {
                problems.push(format!("{file}: {n} × `{call}`, file-writes.tsv says {m}"))
            }
            Some(_) => {}
        }
    }
    for (file, call) in listed.keys() {
        if !found.contains_key(&(file.clone(), call.clone())) {
            problems.push(format!(
                "{file}: `{call}` listed in file-writes.tsv but gone"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "file writes out of step with deploy/powercut/file-writes.tsv (add each new write \
         with the reason it survives a power cut):\n{}",
        problems.join("\n")
    );
    assert!(
        found.len() >= 10,
        "the scan found the known writes ({})",
        found.len()
    );
}
