//! Handles leave no fds or threads behind. Alone in its test binary, so that the counts
//! are not disturbed by other tests running in parallel.

mod common;

use common::TestNs;
use hutch_netns::RtHandle;
use hutch_netns::nft::NftHandle;

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[test]
fn handles_leave_no_fds_or_threads() {
    let ns = TestNs::new();
    // Warm up lazily-initialised state (stdio, the allocator, thread-local caches).
    drop(RtHandle::open_in(&ns.ns).unwrap());
    let fds = count("/proc/self/fd");
    let threads = count("/proc/self/task");
    for _ in 0..50 {
        let mut rt = RtHandle::open_in(&ns.ns).unwrap();
        rt.links().unwrap();
        let mut nft = NftHandle::open_in(&ns.ns).unwrap();
        nft.chains(hutch_netns::nft::consts::NFPROTO_IPV4).unwrap();
    }
    assert_eq!(count("/proc/self/fd"), fds);
    assert_eq!(count("/proc/self/task"), threads);
}
