//! Who made what a test run leaves behind (per-test databases, templates being built,
//! SQLite copies), and whether a sweep may remove it: one place for the names, the host
//! identity and the liveness checks that [`TemplateDatabase`](crate::TemplateDatabase)
//! and SQLite's copies share.
//!
//! Several runs may share one database server or one folder: CI machines, containers of
//! one machine (each with its own pid namespace), two checkouts. So each such thing is
//! named after its maker: `<kind><sep><host><sep><pid><sep><started><sep><n>`, with the
//! maker's host (below), its process id, its start time (base 36, in clock ticks since
//! boot) and a number the process counts up. A sweep removes only what a process of its
//! own host made that no longer runs. Another host's things, a running process's, and
//! anything whose name doesn't parse, are never touched.
//!
//! # The host
//!
//! A hash (12 hex digits, so that names fit PostgreSQL's 63-byte identifiers) of:
//! - the machine's boot id (`/proc/sys/kernel/random/boot_id`): a random UUID made at each
//!   boot, so two machines (or two boots of one) never share it; the containers of one
//!   machine all do;
//! - the inode of this process's pid namespace (`/proc/self/ns/pid`): unique among the
//!   namespaces alive during one boot, so it tells apart the containers and
//!   `unshare --pid` sandboxes of one machine, whose pids mean different processes.
//!
//! The hostname is not part of it: containers and images copy hostnames, and a hostname
//! can change while processes run. A namespace's inode can be reused once all of its
//! processes are gone; the start time in a name tells a reused pid from the process that
//! made the name. After a reboot, what the last boot left looks like another host's:
//! [`TemplateDatabase::sweep_all`](crate::TemplateDatabase::sweep_all) (or deleting the
//! files) removes it.
//!
//! # Where liveness can't be told
//!
//! A process is known gone when `/proc/<pid>/stat` is missing or names another start
//! time. That is trusted only where `/proc` shows this process's own pid namespace
//! (`/proc/self` names this process's id, which a `/proc` mounted for another namespace
//! doesn't) and every process in it (not mounted with `hidepid=2`/`invisible`), and
//! where the host can be told (boot id and namespace readable). Elsewhere (no `/proc`, as
//! on macOS and Windows, or a `/proc` that doesn't fit) nothing counts as gone, so
//! nothing is swept: names stay unique (a random host), and what crashed processes left
//! stays until `sweep_all` or deleting the files removes it.

use std::hash::{BuildHasher, Hasher};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use ownership_runtime::runwide::{process_start_time, start_time_of_stat};

/// The maker of something a run leaves: a process of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Maker {
    /// The host's identity: 12 lower-case hex digits.
    host: String,
    pid: u32,
    /// The process's start time, base 36 (a random token where `/proc` can't be read).
    started: String,
}

/// This process, and whether `/proc` can tell other processes of its host gone.
struct ThisProcess {
    maker: Maker,
    liveness_known: bool,
}

static THIS_PROCESS: LazyLock<ThisProcess> = LazyLock::new(|| {
    let pid = std::process::id();
    let known = host_from_proc()
        .filter(|_| proc_shows_this_namespace(pid))
        .and_then(|host| Some((host, process_start_time(pid)?)));
    match known {
        Some((host, started)) => ThisProcess {
            maker: Maker {
                host,
                pid,
                started: base36(started),
            },
            liveness_known: true,
        },
        None => {
            // Unique, and never taken for another process's: nothing here is swept.
            let mut random = std::collections::hash_map::RandomState::new().build_hasher();
            random.write_u32(pid);
            if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                random.write_u128(now.as_nanos());
            }
            let token = random.finish();
            ThisProcess {
                maker: Maker {
                    host: short_hex(token),
                    pid,
                    started: base36(token.rotate_left(32) % STARTED_RANGE),
                },
                liveness_known: false,
            }
        }
    }
});

/// Start times (and random tokens) fit 8 base-36 digits: 36^8 clock ticks (100 a second)
/// are 890 years of uptime.
const STARTED_RANGE: u64 = 36u64.pow(8);

/// The host's identity from the boot id and the pid namespace (see the module docs).
fn host_from_proc() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let identity = format!("{}\n{}", boot.trim(), namespace.display());
    Some(short_hex(ownership_runtime::runwide::stable_hash(
        &identity,
    )))
}

/// 48 bits of `hash`, as 12 hex digits.
fn short_hex(hash: u64) -> String {
    format!("{:012x}", hash >> 16)
}

/// Whether `/proc` is this process's pid namespace's, and shows every process in it.
fn proc_shows_this_namespace(pid: u32) -> bool {
    let ours = std::fs::read_link("/proc/self")
        .ok()
        .is_some_and(|link| link.as_os_str() == pid.to_string().as_str());
    ours && !hides_processes(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// Whether the `/proc` mount in `mountinfo` hides other users' processes (`hidepid=2`,
/// `hidepid=invisible`): their absence would look like death.
fn hides_processes(mountinfo: &str) -> bool {
    // `<id> <parent> <device> <root> <mount point> <options>... - <type> <source> <options>`
    let proc_mount = mountinfo.lines().rev().find_map(|line| {
        let (mount, filesystem) = line.split_once(" - ")?;
        let [kind, _source, options] = filesystem.splitn(3, ' ').collect::<Vec<_>>()[..] else {
            return None;
        };
        (mount.split(' ').nth(4) == Some("/proc") && kind == "proc").then_some(options)
    });
    proc_mount.is_some_and(|options| {
        options
            .split(',')
            .any(|option| option == "hidepid=2" || option == "hidepid=invisible")
    })
}

fn base36(mut value: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = Vec::new();
    loop {
        digits.push(char::from(DIGITS[(value % 36) as usize]));
        value /= 36;
        if value == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// A fresh name for something this process makes: `<kind><sep><host><sep><pid><sep>
/// <started><sep><n>`, never made before by any process of any host.
pub(crate) fn fresh_name(kind: &str, separator: char) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let maker = &THIS_PROCESS.maker;
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{kind}{separator}{}{separator}{}{separator}{}{separator}{}",
        maker.host,
        maker.pid,
        maker.started,
        base36(number)
    )
}

/// Whether `name` is one of [`fresh_name`]'s of one of `kinds`, whoever made it.
#[cfg(any(feature = "postgres", test))]
pub(crate) fn is_made_name(name: &str, kinds: &[&str], separator: char) -> bool {
    parse(name, kinds, separator).is_some()
}

/// Whether `name` (of one of `kinds`, as [`fresh_name`] makes them) was made by a process
/// of this host that no longer runs: the only names a sweep may remove. `false` for a
/// name that doesn't parse, another host's, a running process's, and wherever liveness
/// can't be told (see the module docs).
pub(crate) fn left_by_the_dead(name: &str, kinds: &[&str], separator: char) -> bool {
    let this = &*THIS_PROCESS;
    let Some(maker) = parse(name, kinds, separator) else {
        return false;
    };
    this.liveness_known && maker.host == this.maker.host && is_gone(&maker)
}

/// Whether the process that made a name of this host is known to be gone.
fn is_gone(maker: &Maker) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", maker.pid)) {
        // The pid runs no process (no thread either) in this namespace.
        Err(error) => error.kind() == std::io::ErrorKind::NotFound,
        // Another process (or a thread) took the pid since.
        Ok(stat) => {
            start_time_of_stat(&stat).is_some_and(|started| base36(started) != maker.started)
        }
    }
}

/// The maker in `name`, if it is `<kind><sep><host><sep><pid><sep><started><sep><n>` with
/// every part well formed.
fn parse(name: &str, kinds: &[&str], separator: char) -> Option<Maker> {
    let (kind, rest) = name.split_once(separator)?;
    if !kinds.contains(&kind) {
        return None;
    }
    let parts: Vec<&str> = rest.split(separator).collect();
    let [host, pid, started, number] = parts.as_slice() else {
        return None;
    };
    let base36_digits = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    let well_formed = host.len() == 12
        && host
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && base36_digits(started)
        && base36_digits(number);
    if !well_formed {
        return None;
    }
    Some(Maker {
        host: (*host).to_owned(),
        pid: pid.parse().ok()?,
        started: (*started).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ownership_runtime::runwide::start_time_of_stat as start_time_in;

    #[test]
    fn this_process_is_running_and_its_names_parse() {
        let name = fresh_name("test", '_');
        assert!(is_made_name(&name, &["test"], '_'), "{name}");
        assert!(!left_by_the_dead(&name, &["test"], '_'));
        assert_ne!(name, fresh_name("test", '_'));
        assert!(!is_made_name(&name, &["build"], '_'));
    }

    #[test]
    fn names_that_do_not_parse_are_not_the_dead_ones() {
        for name in [
            "test_4000000000_0",
            "test_000000000000_4000000000_1_0_extra",
            "test_00000000000g_4000000000_1_0",
            "test_000000000000_+40_1_0",
            "test_000000000000_40__0",
        ] {
            assert!(!is_made_name(name, &["test"], '_'), "{name}");
            assert!(!left_by_the_dead(name, &["test"], '_'), "{name}");
        }
    }

    #[test]
    fn another_hosts_dead_process_is_not_ours_to_sweep() {
        let this = &THIS_PROCESS.maker;
        let other = if this.host == "000000000000" {
            "000000000001"
        } else {
            "000000000000"
        };
        let name = format!("test_{other}_4000000000_1_0");
        assert!(is_made_name(&name, &["test"], '_'));
        assert!(!left_by_the_dead(&name, &["test"], '_'));
        // The same, made by this host: gone (no pid is that high), where that can be told.
        let ours = format!("test_{}_4000000000_1_0", this.host);
        assert_eq!(
            left_by_the_dead(&ours, &["test"], '_'),
            THIS_PROCESS.liveness_known
        );
        // This process's own pid, with another start time: a reused pid.
        let reused = format!("test-{}-{}-zzzzzzzz-0", this.host, this.pid);
        assert_eq!(
            left_by_the_dead(&reused, &["test"], '-'),
            THIS_PROCESS.liveness_known
        );
    }

    #[test]
    fn the_start_time_is_read_past_a_command_name_with_spaces() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 \
                    1000 10 18446744073709551615";
        assert_eq!(start_time_in(stat), Some(987_654));
        assert_eq!(start_time_in("42 (short) S 1"), None);
    }

    #[test]
    fn a_proc_that_hides_processes_is_told() {
        let hidden = "22 28 0:21 / /proc rw,nosuid - proc proc rw,hidepid=invisible\n";
        let open = "22 28 0:21 / /proc rw,nosuid - proc proc rw\n";
        assert!(hides_processes(hidden));
        assert!(!hides_processes(open));
        assert!(!hides_processes(""));
    }

    #[test]
    fn base36_counts() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
        assert_eq!(base36(STARTED_RANGE - 1), "zzzzzzzz");
    }
}
