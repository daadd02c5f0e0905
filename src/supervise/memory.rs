//! Keeps the init's resident memory down to what its loop touches.
//!
//! aws-init's executable carries the SDK, but the init only waits for
//! signals. Start-up maps far more of the executable than that: every fault
//! maps the pages around it too (fault-around), and the code that parsed
//! the command line never runs again. Once the command has run for a
//! moment, the init drops the pages of its read-only file mappings that
//! only the file holds, and evicts those no one else maps, so that only the
//! pages its loop touches come back (madvise(2)). A command that ends at
//! once never pays for this.

use std::fs;
use std::time::Duration;

/// How long after the fork the init waits before it drops its pages: long
/// enough that a short command has ended, so that `aws-init true` costs
/// nothing extra.
pub const RELEASE_AFTER: Duration = Duration::from_secs(1);

/// Drops the clean pages of this process's read-only file mappings. Those
/// pages are copies of the file, so dropping them loses nothing: a later
/// touch maps the page back from the file. A mapping with any
/// private copy (relocations applied to read-only data, for one) is left
/// alone, since that copy exists nowhere else. Best effort: without /proc
/// nothing changes.
pub fn release_clean_pages() {
    let Ok(smaps) = fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for mapping in Mapping::parse_all(&smaps) {
        if !mapping.droppable() {
            continue;
        }
        let advise = |advice| {
            // SAFETY: the range is a whole read-only mapping of this
            // process without private pages, and neither advice changes
            // what a read of it returns.
            unsafe { libc::madvise(mapping.start as *mut libc::c_void, mapping.len, advice) };
        };
        // MADV_RANDOM stops read-ahead when a dropped page comes back.
        advise(libc::MADV_RANDOM);
        // Fault-around maps every neighbour of a faulting page that is in
        // the page cache, so dropped code would come back 64 kB at a time.
        // MADV_PAGEOUT first evicts the pages that no other process maps
        // (the kernel skips shared ones, and file pages unless this process
        // could write the file), so that only touched pages return. The
        // price: a later start of aws-init on this host reads those few
        // pages from disk again.
        advise(libc::MADV_PAGEOUT);
        advise(libc::MADV_DONTNEED);
    }
}

/// A mapping from /proc/self/smaps (proc(5)).
#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    start: usize,
    len: usize,
    /// Backed by a file, not anonymous memory or the kernel's own
    /// (`[stack]`, `[vdso]`), which have nothing to refill them from.
    file: bool,
    writable: bool,
    /// Whether the `Anonymous:` line said 0 kB: no page is a private copy.
    clean: bool,
}

impl Mapping {
    fn droppable(&self) -> bool {
        self.file && !self.writable && self.clean
    }

    /// Parses every mapping of an smaps text: a header such as
    /// `7f00-7f80 r-xp 00001000 fe:01 1234 /bin/x`, then `Key: value`
    /// lines. A mapping whose `Anonymous:` line is missing counts as not
    /// clean.
    fn parse_all(smaps: &str) -> Vec<Mapping> {
        let mut mappings: Vec<Mapping> = Vec::new();
        for line in smaps.lines() {
            if let Some(mapping) = Mapping::parse_header(line) {
                mappings.push(mapping);
            } else if let (Some(kb), Some(mapping)) =
                (line.strip_prefix("Anonymous:"), mappings.last_mut())
            {
                mapping.clean = kb.trim() == "0 kB";
            }
        }
        mappings
    }

    fn parse_header(line: &str) -> Option<Mapping> {
        let mut fields = line.split_ascii_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let permissions = fields.next()?;
        if permissions.len() != 4 {
            return None;
        }
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        let path = fields.nth(3).unwrap_or("");
        Some(Mapping {
            start,
            len: end.checked_sub(start)?,
            file: path.starts_with('/'),
            writable: permissions.as_bytes()[1] == b'w',
            clean: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
1000-3000 r-xp 00001000 fe:01 42 /usr/bin/aws-init
Size:                  8 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
3000-4000 r--p 00003000 fe:01 42 /usr/bin/aws-init
Anonymous:             4 kB
4000-5000 rw-p 00004000 fe:01 42 /usr/bin/aws-init
Anonymous:             0 kB
5000-6000 rw-p 00000000 00:00 0
Anonymous:             0 kB
7000-8000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
9000-a000 r--p 00000000 fe:01 43 /usr/lib/libc.so.6
";

    #[test]
    fn only_clean_read_only_file_mappings_are_dropped() {
        let droppable: Vec<(usize, usize)> = Mapping::parse_all(SMAPS)
            .into_iter()
            .filter(Mapping::droppable)
            .map(|mapping| (mapping.start, mapping.len))
            .collect();
        // Not the relocated data (4 kB private), the writable data, the
        // anonymous memory, the vDSO, or a mapping not known to be clean.
        assert_eq!(droppable, [(0x1000, 0x2000)]);
    }
}
