//! Unit tests for the secret types: redaction, layout, and wiping on drop.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use super::*;

/// The unit tests' allocator: the system's, which also reports how one
/// watched heap block looked when it was freed. A freed block cannot be
/// read back soundly, so the check happens inside `dealloc`, while the
/// block is still the program's.
#[global_allocator]
static ALLOCATOR: Watching = Watching;

struct Watching;

/// The address of the block to report on, or 0.
static WATCHED: AtomicUsize = AtomicUsize::new(0);
/// What became of the watched block: one of the constants below.
static FREED: AtomicU8 = AtomicU8::new(NOT_FREED);
const NOT_FREED: u8 = 0;
const FREED_WIPED: u8 = 1;
const FREED_HOLDING_BYTES: u8 = 2;

/// Only one test at a time may watch a block.
static WATCHING: Mutex<()> = Mutex::new(());

// SAFETY: every call goes to the system allocator unchanged; `dealloc`
// only reads the block it is handed before passing it on.
unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds alloc's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let watched = WATCHED.compare_exchange(ptr as usize, 0, Ordering::SeqCst, Ordering::SeqCst);
        if watched.is_ok() {
            // SAFETY: the block is `layout.size()` bytes, still
            // allocated, and was written in full by the test that
            // watches it (see `watch`).
            let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            let outcome = if bytes.iter().all(|&byte| byte == 0) {
                FREED_WIPED
            } else {
                FREED_HOLDING_BYTES
            };
            FREED.store(outcome, Ordering::SeqCst);
        }
        // SAFETY: the caller upholds dealloc's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Watches the heap block of `bytes`, whose capacity must equal its
/// length, so that every byte `dealloc` reads was written.
fn watch(bytes: &[u8], capacity: usize) {
    assert_eq!(bytes.len(), capacity, "a block with unwritten bytes");
    FREED.store(NOT_FREED, Ordering::SeqCst);
    WATCHED.store(bytes.as_ptr() as usize, Ordering::SeqCst);
}

fn freed() -> u8 {
    WATCHED.store(0, Ordering::SeqCst);
    FREED.load(Ordering::SeqCst)
}

const CANARY_TEXT: &str = "zeroize-canary-5f2c9e1a";
const CANARY: &[u8] = CANARY_TEXT.as_bytes();

/// Drops `locked`, which must live in the arena, and returns its bytes
/// as they are afterwards.
fn arena_bytes_after_drop(locked: Locked) -> Vec<u8> {
    assert!(
        matches!(locked.storage, Storage::Arena(_)),
        "not in the arena"
    );
    let (start, len) = (locked.as_ptr(), locked.len());
    drop(locked);
    // SAFETY: arena pages are never unmapped or handed out twice, so
    // these bytes stay readable and no one else writes them.
    unsafe { std::slice::from_raw_parts(start, len) }.to_vec()
}

#[test]
fn debug_output_hides_the_value() {
    let secret = Secret::new(b"hunter2-canary".to_vec());
    assert_eq!(format!("{secret:?}"), "Secret([redacted, 14 bytes])");
    let locked = Locked::concat(&[b"NAME=", b"hunter2-canary"]);
    assert_eq!(format!("{locked:?}"), "Locked([redacted, 19 bytes])");
}

#[test]
fn concat_joins_the_parts() {
    let locked = Locked::concat(&[b"NAME", b"=", b"value", b"\0"]);
    assert_eq!(locked.as_slice(), b"NAME=value\0");
    assert_eq!(locked.len(), 11);
    assert_eq!(Locked::concat(&[]).as_slice(), b"");
    let plain = Locked::concat_plain(&[b"PATH", b"=", b"/bin", b"\0"]);
    assert_eq!(plain.as_slice(), b"PATH=/bin\0");
}

#[test]
fn a_value_larger_than_a_chunk_survives() {
    let value: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let secret = Secret::new(value.clone());
    assert_eq!(secret.expose(), &value[..]);
    assert_eq!(Secret::from_slice(&value).expose(), &value[..]);
}

#[test]
fn a_secret_wipes_its_arena_bytes_on_drop() {
    for secret in [Secret::from_slice(CANARY), Secret::new(CANARY.to_vec())] {
        assert_eq!(secret.expose(), CANARY);
        let after = arena_bytes_after_drop(secret.0);
        assert_eq!(after, vec![0; CANARY.len()]);
    }
}

#[test]
fn an_environment_entry_wipes_its_arena_bytes_on_drop() {
    let entry = Locked::concat(&[b"NAME=", CANARY, b"\0"]);
    let after = arena_bytes_after_drop(entry);
    assert_eq!(after, vec![0; CANARY.len() + 6]);
}

#[test]
fn a_heap_buffer_is_wiped_before_it_is_freed() {
    let _watching = WATCHING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // The heap is where a buffer goes when no arena page can be mapped;
    // concat_plain puts it there always.
    let entry = Locked::concat_plain(&[b"NAME=", CANARY]);
    let Storage::Heap(bytes) = &entry.storage else {
        panic!("not on the heap");
    };
    watch(bytes, bytes.capacity());
    drop(entry);
    assert_eq!(freed(), FREED_WIPED);
}

#[test]
fn a_secret_wipes_the_buffer_it_was_made_from() {
    let _watching = WATCHING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let bytes = CANARY.to_vec();
    watch(&bytes, bytes.capacity());
    let secret = Secret::new(bytes);
    assert_eq!(freed(), FREED_WIPED);
    assert_eq!(secret.expose(), CANARY);

    let text = CANARY_TEXT.to_owned();
    watch(text.as_bytes(), text.capacity());
    let secret = Secret::from_string(text);
    assert_eq!(freed(), FREED_WIPED);
    assert_eq!(secret.expose(), CANARY);
}

/// The control for the checks above: a buffer freed without wiping is
/// seen holding its bytes, so `FREED_WIPED` means a wipe happened.
#[test]
fn the_allocator_sees_a_buffer_freed_unwiped() {
    let _watching = WATCHING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let bytes = CANARY.to_vec();
    watch(&bytes, bytes.capacity());
    drop(bytes);
    assert_eq!(freed(), FREED_HOLDING_BYTES);
}
