//! Keeps the init's resident memory down to what its loop touches.
//!
//! aws-init's executable carries the SDK, but the init only waits for
//! signals. Reading its code in from a binary already in the page cache
//! maps far more than that: every fault maps the pages around it too
//! (fault-around), and start-up has touched code the init never runs
//! again. Once the init is on its own, it advises its file mappings
//! MADV_RANDOM, which turns fault-around off, and drops its code pages, so
//! that only the pages the loop touches come back (madvise(2)).

use std::fs;

/// Advises every file mapping of this process MADV_RANDOM and drops the
/// executable ones with MADV_DONTNEED. Code is never written, so dropping
/// it loses nothing: a later touch maps the page back from the page cache.
/// Writable and read-only data are kept, since a private mapping's
/// modified pages (relocations, for one) exist nowhere else. Best effort:
/// without /proc nothing changes.
pub fn release_code() {
    let Ok(maps) = fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines() {
        let Some(mapping) = Mapping::parse(line) else {
            continue;
        };
        let advise = |advice| {
            // SAFETY: the range is a whole mapping of this process, and
            // neither advice changes what a read of it returns.
            unsafe { libc::madvise(mapping.start as *mut libc::c_void, mapping.len, advice) };
        };
        advise(libc::MADV_RANDOM);
        if mapping.executable {
            advise(libc::MADV_DONTNEED);
        }
    }
}

/// A file mapping from /proc/self/maps (proc(5)).
struct Mapping {
    start: usize,
    len: usize,
    /// Mapped `r-xp`: code that nothing writes.
    executable: bool,
}

impl Mapping {
    /// Parses a line such as `7f00-7f80 r-xp 00001000 fe:01 1234 /bin/x`;
    /// returns `None` for anonymous mappings and the kernel's own
    /// (`[stack]`, `[vdso]`), which have no file to refill them from.
    fn parse(line: &str) -> Option<Mapping> {
        let mut fields = line.split_ascii_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let permissions = fields.next()?;
        let path = fields.nth(3)?;
        if !path.starts_with('/') {
            return None;
        }
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        Some(Mapping {
            start,
            len: end.checked_sub(start)?,
            executable: permissions == "r-xp",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_mappings_count_and_only_code_is_dropped() {
        let code = Mapping::parse("1000-3000 r-xp 00001000 fe:01 42 /usr/bin/aws-init");
        assert!(matches!(
            code,
            Some(Mapping {
                start: 0x1000,
                len: 0x2000,
                executable: true
            })
        ));
        let relro = Mapping::parse("3000-4000 r--p 00003000 fe:01 42 /usr/bin/aws-init");
        assert!(matches!(
            relro,
            Some(Mapping {
                executable: false,
                ..
            })
        ));
        assert!(Mapping::parse("5000-6000 rw-p 00000000 00:00 0").is_none());
        assert!(Mapping::parse("7000-8000 r-xp 00000000 00:00 0 [vdso]").is_none());
    }
}
