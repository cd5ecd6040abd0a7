//! `figs::keep_freed_memory` changes what glibc does with large blocks (FAULTS.md
//! 8 and 12): a block that glibc's settings at that moment would map comes from the heap
//! afterwards, and freeing it keeps the heap instead of trimming it. Its own binary without
//! the test harness: mallopt must run before any other thread exists.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    std::env::remove_var("FIGS_MALLOC");
    let info = || unsafe { libc::mallinfo2() };
    // Control: glibc's mmap threshold adapts (libtorch's start-up already raised it), so
    // find the smallest block below 32 MB (figs' threshold) that it maps now. Nothing is
    // freed while probing, which would move the threshold.
    let mut held = Vec::new();
    let mut size = None;
    for mb in [1usize, 2, 4, 8, 12, 16, 20, 24, 28, 31] {
        let before = info().hblks;
        // SAFETY: plain malloc of a block freed below.
        held.push(unsafe { libc::malloc(mb << 20) });
        if info().hblks == before + 1 {
            size = Some(mb << 20);
            break;
        }
    }
    let Some(size) = size else {
        println!("malloc: SKIPPED: glibc maps no block below 32 MB here, so keep_freed_memory changes nothing to test");
        return;
    };
    let mut failed = Vec::new();
    // The library's entry points leave the host's allocator alone (a notebook kernel's,
    // a user's program's): a session does not change what glibc maps.
    let session = figs::session::Session::new();
    let mapped = info().hblks;
    let block = unsafe { libc::malloc(size) };
    if info().hblks != mapped + 1 {
        failed.push("Session::new changed the allocator's settings".to_string());
    }
    held.push(block);
    drop(session);
    // SAFETY: no other thread exists in this harness-less binary.
    unsafe { figs::keep_freed_memory() };
    let mapped = info().hblks;
    let block = unsafe { libc::malloc(size) };
    if info().hblks != mapped {
        failed.push(format!("after keep_freed_memory a {} MB block was still mapped", size >> 20));
    }
    let arena = info().arena;
    unsafe { libc::free(block) };
    if info().arena < arena {
        failed.push("after keep_freed_memory freeing the block trimmed the heap".to_string());
    }
    for p in held {
        unsafe { libc::free(p) };
    }
    println!("malloc ({} MB blocks): {} passed, {} failed", size >> 20, 3 - failed.len().min(3), failed.len());
    if !failed.is_empty() {
        for f in failed {
            eprintln!("failed: {f}");
        }
        std::process::exit(1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    println!("malloc: SKIPPED (not glibc: keep_freed_memory does nothing here)");
}
