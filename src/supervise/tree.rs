//! Reads the process tree from /proc, so that a shutdown can reach the
//! processes that left the command's process group and knows when the
//! group has truly ended.

use std::collections::HashMap;
use std::fs;

/// Lists the children of this process, from /proc: the command and the
/// orphans it adopted. See [`descendants`] for the caveats.
pub fn children() -> Vec<libc::pid_t> {
    // SAFETY: getpid has no requirements.
    children_by_parent()
        .remove(&unsafe { libc::getpid() })
        .unwrap_or_default()
}

/// Lists every live descendant of this process, children first, from
/// /proc. A process that forks or exits during the scan may be missed or
/// listed after it is gone; callers signal what they find and ignore
/// ESRCH. Without /proc the list is empty, and only the process group is
/// reached.
pub fn descendants() -> Vec<libc::pid_t> {
    let mut children = children_by_parent();
    // SAFETY: getpid has no requirements.
    let mut found = children
        .remove(&unsafe { libc::getpid() })
        .unwrap_or_default();
    let mut next = 0;
    while let Some(&pid) = found.get(next) {
        if let Some(grandchildren) = children.remove(&pid) {
            found.extend(grandchildren);
        }
        next += 1;
    }
    found
}

/// Tells whether process group `group` has a member that is not a zombie.
/// A zombie whose parent is not aws-init can only be reaped by that parent,
/// so waiting for it would be waiting for nothing. Without /proc, any
/// member counts.
pub fn group_has_live_members(group: libc::pid_t) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return true;
    };
    entries.flatten().any(|entry| {
        let path = entry.path().join("stat");
        fs::read_to_string(path).is_ok_and(|stat| {
            matches!(state_and_group(&stat), Some((state, pgrp)) if pgrp == group && state != "Z")
        })
    })
}

/// Maps each parent to its children, for every process in /proc.
fn children_by_parent() -> HashMap<libc::pid_t, Vec<libc::pid_t>> {
    let mut children: HashMap<libc::pid_t, Vec<libc::pid_t>> = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return children;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some(parent) = parent_of(&stat) {
            children.entry(parent).or_default().push(pid);
        }
    }
    children
}

/// The fields of /proc/PID/stat that follow the command name (proc(5)).
/// The name comes second, in parentheses, and may itself hold spaces and
/// parentheses, so the fields are counted from the last `)`.
fn fields_after_name(stat: &str) -> Option<std::str::SplitAsciiWhitespace<'_>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_ascii_whitespace())
}

/// Reads the parent's PID from the text of /proc/PID/stat.
fn parent_of(stat: &str) -> Option<libc::pid_t> {
    fields_after_name(stat)?.nth(1)?.parse().ok()
}

/// Reads the state (`R`, `S`, `Z`, ...) and the process group from the
/// text of /proc/PID/stat.
fn state_and_group(stat: &str) -> Option<(&str, libc::pid_t)> {
    let mut fields = fields_after_name(stat)?;
    let state = fields.next()?;
    let group = fields.nth(1)?.parse().ok()?;
    Some((state, group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_follows_the_last_parenthesis() {
        assert_eq!(parent_of("42 (a) b) c) S 7 42 42 0"), Some(7));
        assert_eq!(parent_of("42 (sleep) Z 1 42"), Some(1));
        assert_eq!(parent_of("42 (truncated"), None);
        assert_eq!(state_and_group("42 (a) b) Z 7 40 40 0"), Some(("Z", 40)));
    }

    #[test]
    fn lists_a_child_and_its_child() {
        let spawned = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & echo $!; wait"])
            .stdout(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = spawned else {
            panic!("sh did not start: {spawned:?}");
        };
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        }
        let grandchild = line.trim().parse::<libc::pid_t>().unwrap_or(0);
        let found = descendants();
        if grandchild > 0 {
            // SAFETY: kill takes plain integers.
            unsafe { libc::kill(grandchild, libc::SIGKILL) };
        }
        let _ = child.wait();
        let shell = child.id() as libc::pid_t;
        let at = |pid| found.iter().position(|&p| p == pid);
        assert!(
            matches!((at(shell), at(grandchild)), (Some(a), Some(b)) if a < b),
            "shell {shell}, sleep {grandchild:?}, found {found:?}"
        );
    }
}
