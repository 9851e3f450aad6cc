//! The controller's sled storage across a power cut: what `sync` returned
//! for is there afterwards, starting from a data dir the controller creates.
//! Needs /dev/fuse and root; fails loudly without.

use ferry_controller::storage::durable::DurableDb;
use ferry_powercut::PowerCutMount;

#[test]
fn given_a_new_controller_data_dir_when_power_is_cut_after_sync_should_keep_what_was_synced() {
    let m = PowerCutMount::new().unwrap_or_else(|e| panic!("{e}"));
    let dir = m.path().join("controller-1");
    {
        let db = DurableDb::open(&dir, 1).unwrap();
        db.db.insert(b"term", b"7".as_slice()).unwrap();
        db.sync().unwrap();
        // Closed before the cut: sled's drop-time flush would hit EIO and
        // panic in-process. The files are synced either way; what the cut
        // tests is whether their directory entries are.
    }
    m.cut();
    m.power_on();
    let db = DurableDb::open(&dir, 1).unwrap();
    assert_eq!(
        db.db.get(b"term").unwrap().as_deref(),
        Some(b"7".as_slice()),
        "a synced write survives a power cut"
    );
}
