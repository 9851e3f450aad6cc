//! The power-cut file system through a real mount: what is fsynced survives
//! a cut, what is not is gone, and a cut fails every later call until power
//! comes back. Needs /dev/fuse and root; fails loudly (never skips) without.

use ferry_powercut::PowerCutMount;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

fn mount() -> PowerCutMount {
    PowerCutMount::new().unwrap_or_else(|e| panic!("{e}"))
}

fn sync_dir(dir: &Path) {
    File::open(dir).unwrap().sync_all().unwrap();
}

fn cut_and_restore(m: &PowerCutMount) {
    m.cut();
    m.power_on();
}

#[test]
fn given_a_write_without_fsync_when_power_is_cut_should_lose_it() {
    let m = mount();
    let p = m.path().join("log");
    let mut f = File::create(&p).unwrap();
    sync_dir(m.path());
    f.write_all(b"unsynced").unwrap();
    drop(f);
    assert_eq!(fs::read(&p).unwrap(), b"unsynced", "visible before the cut");
    cut_and_restore(&m);
    assert_eq!(fs::read(&p).unwrap(), b"", "gone after the cut");
    assert_eq!(m.stats().bytes_lost, 8);
}

#[test]
fn given_a_write_with_fsync_when_power_is_cut_should_keep_it_and_lose_the_tail() {
    let m = mount();
    let p = m.path().join("log");
    let mut f = File::create(&p).unwrap();
    sync_dir(m.path());
    f.write_all(b"synced").unwrap();
    f.sync_data().unwrap();
    f.write_all(b"+tail").unwrap();
    cut_and_restore(&m);
    drop(f);
    assert_eq!(fs::read(&p).unwrap(), b"synced");
}

#[test]
fn given_create_and_rename_without_dir_fsync_when_power_is_cut_should_keep_the_old_state() {
    let m = mount();
    let p = m.path().join("meta.json");
    fs::write(&p, b"old").unwrap();
    File::open(&p).unwrap().sync_all().unwrap();
    sync_dir(m.path());
    let tmp = m.path().join("meta.json.tmp");
    fs::write(&tmp, b"new").unwrap();
    File::open(&tmp).unwrap().sync_all().unwrap();
    fs::rename(&tmp, &p).unwrap();
    fs::write(m.path().join("fresh"), b"x").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"new");
    cut_and_restore(&m);
    assert_eq!(fs::read(&p).unwrap(), b"old");
    assert!(!tmp.exists(), "the temp file was never linked durably");
    assert!(!m.path().join("fresh").exists());
}

#[test]
fn given_rename_with_dir_fsync_when_power_is_cut_should_keep_the_new_state() {
    let m = mount();
    let dir = m.path().join("p-0");
    fs::create_dir(&dir).unwrap();
    sync_dir(m.path());
    let tmp = dir.join("x.tmp");
    fs::write(&tmp, b"new").unwrap();
    File::open(&tmp).unwrap().sync_all().unwrap();
    fs::rename(&tmp, dir.join("x")).unwrap();
    sync_dir(&dir);
    cut_and_restore(&m);
    assert_eq!(fs::read(dir.join("x")).unwrap(), b"new");
    let names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["x"]);
}

#[test]
fn given_truncate_and_overwrite_without_fsync_when_power_is_cut_should_restore_the_synced_bytes() {
    let m = mount();
    let p = m.path().join("seg");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&p)
        .unwrap();
    sync_dir(m.path());
    f.write_all(b"0123456789").unwrap();
    f.sync_all().unwrap();
    f.set_len(4).unwrap();
    f.seek(SeekFrom::Start(1)).unwrap();
    f.write_all(b"X").unwrap();
    let mut now = Vec::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_end(&mut now).unwrap();
    assert_eq!(now, b"0X23");
    cut_and_restore(&m);
    drop(f);
    assert_eq!(fs::read(&p).unwrap(), b"0123456789");
}

#[test]
fn given_a_cut_when_a_process_keeps_writing_should_fail_until_power_is_back() {
    let m = mount();
    let p = m.path().join("log");
    let mut f = File::create(&p).unwrap();
    sync_dir(m.path());
    m.cut();
    let err = f.write_all(b"after the cut").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    assert!(fs::write(m.path().join("new"), b"x").is_err());
    m.power_on();
    drop(f);
    assert_eq!(fs::read(&p).unwrap(), b"");
}
