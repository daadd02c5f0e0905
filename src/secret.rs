//! The types that hold resolved secret values.
//!
//! A [`Secret`] and the command's environment entries keep their bytes in
//! a [`Locked`] buffer: in pages kept for secrets, locked in RAM where the
//! limits allow and left out of core dumps, and wiped on drop. Neither type
//! shows its bytes through `Debug`, and neither has `Display`, so a value
//! cannot reach a log line or an error message by accident.

use std::fmt;
use std::ptr::NonNull;

use zeroize::{Zeroize, Zeroizing};

/// Bytes of a resolved value, wiped on drop.
pub struct Secret(Locked);

impl Secret {
    /// Takes `bytes`, wiping the vector they came in.
    pub fn new(bytes: Vec<u8>) -> Secret {
        let bytes = Zeroizing::new(bytes);
        Secret(Locked::concat(&[&bytes]))
    }

    /// Takes a string from the SDK, wiping it.
    pub fn from_string(text: String) -> Secret {
        Secret::new(text.into_bytes())
    }

    /// Copies `bytes`, which the caller wipes.
    pub fn from_slice(bytes: &[u8]) -> Secret {
        Secret(Locked::concat(&[bytes]))
    }

    /// Exposes the bytes; keep the borrow short.
    pub fn expose(&self) -> &[u8] {
        self.0.as_slice()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted, {} bytes])", self.0.len())
    }
}

/// Bytes that may hold a secret, kept out of swap and core dumps.
///
/// The bytes live in an arena of pages mapped for secrets alone, locked in
/// RAM and left out of core dumps. Small values share pages, so that many
/// secrets fit in a small RLIMIT_MEMLOCK; each buffer wipes its own bytes
/// on drop, and the pages go when the process execs or exits. When no
/// pages can be mapped, the bytes go to the heap instead, still wiped on
/// drop.
pub struct Locked {
    storage: Storage,
    len: usize,
}

enum Storage {
    Arena(NonNull<u8>),
    Heap(Zeroizing<Vec<u8>>),
}

impl Locked {
    /// A buffer holding `parts` one after another, in the locked arena.
    pub fn concat(parts: &[&[u8]]) -> Locked {
        Locked::build(parts, true)
    }

    /// A buffer like [`Locked::concat`], but on the heap, for bytes that
    /// hold no secret: a plain variable needs no share of RLIMIT_MEMLOCK.
    pub fn concat_plain(parts: &[&[u8]]) -> Locked {
        Locked::build(parts, false)
    }

    fn build(parts: &[&[u8]], lock: bool) -> Locked {
        let len = parts.iter().map(|part| part.len()).sum();
        let arena = if lock && len > 0 {
            arena::take(len)
        } else {
            None
        };
        let mut storage = match arena {
            Some(start) => Storage::Arena(start),
            None => Storage::Heap(Zeroizing::new(Vec::with_capacity(len))),
        };
        match &mut storage {
            Storage::Arena(start) => {
                let mut at = 0;
                for part in parts {
                    // SAFETY: the arena gave this buffer `len` bytes of its
                    // own, the parts add up to `len`, and arena pages never
                    // overlap a slice from elsewhere.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            part.as_ptr(),
                            start.as_ptr().add(at),
                            part.len(),
                        )
                    };
                    at += part.len();
                }
            }
            Storage::Heap(bytes) => {
                for part in parts {
                    bytes.extend_from_slice(part);
                }
            }
        }
        Locked { storage, len }
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.storage {
            // SAFETY: the first `len` bytes at `start` are this buffer's,
            // written in `build`, and arena pages are never unmapped.
            Storage::Arena(start) => unsafe {
                std::slice::from_raw_parts(start.as_ptr(), self.len)
            },
            Storage::Heap(bytes) => bytes,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.as_slice().as_ptr()
    }
}

impl fmt::Debug for Locked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Locked([redacted, {} bytes])", self.len)
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        if let Storage::Arena(start) = self.storage {
            // SAFETY: these `len` bytes belong to this buffer alone, and
            // nothing refers to them once it drops.
            unsafe { std::slice::from_raw_parts_mut(start.as_ptr(), self.len) }.zeroize();
        }
    }
}

// SAFETY: a `Locked` owns its bytes outright, like a `Vec` owns its heap
// buffer, so it may move to and be shared with other threads.
unsafe impl Send for Locked {}
// SAFETY: as for `Send`: shared access only reads.
unsafe impl Sync for Locked {}

/// The pages secrets are kept in. Space is handed out in order and never
/// reused: the process that resolves references is short-lived, and ends
/// by exec or exit, which frees the pages.
mod arena {
    use std::ptr::NonNull;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::log;

    /// The smallest mapping: four pages hold a typical set of secrets and
    /// stay well within the 64 KiB RLIMIT_MEMLOCK some hosts default to.
    const CHUNK: usize = 16 * 1024;

    /// The free part of the newest mapping: its address and length.
    static FREE: Mutex<(usize, usize)> = Mutex::new((0, 0));

    /// Set once the warning that secrets could not be locked was given.
    static WARNED: AtomicBool = AtomicBool::new(false);

    /// Hands out `len` bytes, mapping more pages when the newest mapping
    /// is full. `None` when no pages can be mapped.
    pub fn take(len: usize) -> Option<NonNull<u8>> {
        let mut free = FREE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if free.1 < len {
            *free = map(len.max(CHUNK))?;
        }
        let start = free.0;
        *free = (start + len, free.1 - len);
        NonNull::new(start as *mut u8)
    }

    /// Maps at least `len` bytes of fresh pages, locks them and keeps
    /// them out of core dumps.
    fn map(len: usize) -> Option<(usize, usize)> {
        // SAFETY: sysconf takes a plain integer.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .ok()
            .filter(|&page| page > 0)?;
        let size = len.checked_next_multiple_of(page)?;
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choosing cannot touch any existing memory.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: both calls take the mapping made just above. Failing to
        // leave it out of core dumps is harmless: the process that holds
        // secrets is not dumpable in the first place.
        unsafe {
            libc::madvise(start, size, libc::MADV_DONTDUMP);
            if libc::mlock(start, size) != 0 {
                warn_not_locked();
            }
        }
        Some((start as usize, size))
    }

    /// Says once per process that secrets may be swapped out, and why.
    fn warn_not_locked() {
        let error = std::io::Error::last_os_error();
        if WARNED.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one struct to the pointer.
        let limit = match unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } {
            0 if limit.rlim_cur == libc::RLIM_INFINITY => "unlimited".to_owned(),
            0 => format!("{} KiB", limit.rlim_cur / 1024),
            _ => "unknown".to_owned(),
        };
        log::warn!(
            "cannot lock secrets in memory (mlock: {error}; RLIMIT_MEMLOCK is {limit}), so \
             they could be swapped to disk; raise the limit (ulimit -l) or grant CAP_IPC_LOCK"
        );
    }
}

#[cfg(test)]
mod tests;
