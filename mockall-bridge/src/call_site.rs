//! What a call through a facade reads like in its source (``GATEWAY.get().charge(..)``), for
//! the messages of a call that finds no implementation: `get` and `try_get` are
//! `#[track_caller]`, so their [`Location`] points at `get` in the caller's source, and
//! the method called comes right after it. The source is read only to render such a
//! message, never on a call's way; when the file isn't there (a binary run away from its
//! sources) or doesn't read like a call through `get` at that place, the message names the
//! location alone.

use std::fmt;
use std::panic::Location;
use std::path::{Path, PathBuf};

/// A call as its source reads: the facade's expression (`GATEWAY`, `payments::GATEWAY`), how
/// the implementation was fetched (`get()`, `try_get()?`) and the method called on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    receiver: Option<String>,
    accessor: &'static str,
    method: String,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let receiver = self.receiver.as_deref().unwrap_or("");
        write!(f, "`{receiver}.{}.{}(..)`", self.accessor, self.method)
    }
}

impl Call {
    /// The facade's expression as the source writes it, if it is a path (`GATEWAY`).
    pub(crate) fn receiver(&self) -> Option<&str> {
        self.receiver.as_deref()
    }
}

/// The call made at `at` (the location of `get` or `try_get`), read from its source file.
pub(crate) fn read(at: &Location<'_>) -> Option<Call> {
    candidates(Path::new(at.file()))
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .find_map(|source| parse(&source, at.line(), at.column()))
}

/// Where the file named by a location may be: the path as it is (absolute, or relative to
/// the working directory), else relative to each folder above the working directory and
/// the package's (cargo names a workspace member's files from the workspace's root, and
/// runs its tests in the member's folder).
fn candidates(file: &Path) -> Vec<PathBuf> {
    if file.is_absolute() {
        return vec![file.to_path_buf()];
    }
    let mut folders: Vec<PathBuf> = Vec::new();
    let starts = [
        std::env::current_dir().ok(),
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
    ];
    for start in starts.into_iter().flatten() {
        for folder in start.ancestors() {
            if !folders.iter().any(|known| known == folder) {
                folders.push(folder.to_path_buf());
            }
        }
    }
    folders.iter().map(|folder| folder.join(file)).collect()
}

/// The call whose `get`/`try_get` starts at `line`:`column` (1-based, the column counted in
/// characters, as [`Location`] counts), if the source reads like one there.
fn parse(source: &str, line: u32, column: u32) -> Option<Call> {
    let line_start = source
        .split_inclusive('\n')
        .take(usize::try_from(line).ok()?.checked_sub(1)?)
        .map(str::len)
        .sum::<usize>();
    let line_text = &source[line_start..];
    let in_line = line_text
        .char_indices()
        .nth(usize::try_from(column).ok()?.checked_sub(1)?)?
        .0;
    let start = line_start + in_line;
    let (before, after) = source.split_at(start);

    let (accessor, rest) = if let Some(rest) = after.strip_prefix("try_get") {
        ("try_get()?", rest)
    } else {
        ("get()", after.strip_prefix("get")?)
    };
    let rest = rest.trim_start().strip_prefix('(')?.trim_start();
    let mut rest = rest.strip_prefix(')')?.trim_start();
    if accessor.starts_with("try_get") {
        // Only `try_get()?` gives the implementation itself; `try_get().map(..)` calls a
        // method of the `Result`.
        rest = rest.strip_prefix('?')?.trim_start();
    }
    let rest = rest.strip_prefix('.')?.trim_start();
    let rest = rest.strip_prefix("r#").unwrap_or(rest);
    let length = rest
        .find(|character: char| !(character.is_alphanumeric() || character == '_'))
        .unwrap_or(rest.len());
    let method = &rest[..length];
    let after_method = rest[length..].trim_start();
    let starts_like_a_name = method
        .chars()
        .next()
        .is_some_and(|first| first.is_alphabetic() || first == '_');
    if !starts_like_a_name || !(after_method.starts_with('(') || after_method.starts_with("::<")) {
        return None;
    }

    let before = before.trim_end().strip_suffix('.')?.trim_end();
    let receiver_start = before
        .rfind(|character: char| {
            !(character.is_alphanumeric() || character == '_' || character == ':')
        })
        .map_or(0, |index| index + 1);
    let receiver = &before[receiver_start..];
    let receiver =
        (!receiver.is_empty() && !receiver.starts_with(':')).then(|| receiver.to_owned());
    Some(Call {
        receiver,
        accessor,
        method: method.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(source: &str, line: u32, column: u32) -> Option<String> {
        parse(source, line, column).map(|call| call.to_string())
    }

    #[test]
    fn a_call_on_one_line() {
        let source = "fn f() {\n    GATEWAY.get().charge(req)\n}\n";
        assert_eq!(
            call(source, 2, 13).as_deref(),
            Some("`GATEWAY.get().charge(..)`")
        );
    }

    #[test]
    fn a_chain_over_lines_with_a_path_and_characters_before_it() {
        let source = "/* é */ let x = payments::GATEWAY\n        .get()\n        .charge(5).await;";
        assert_eq!(
            call(source, 2, 10).as_deref(),
            Some("`payments::GATEWAY.get().charge(..)`")
        );
    }

    #[test]
    fn try_get_with_a_question_mark_a_turbofish_and_a_raw_name() {
        assert_eq!(
            call("CLOCK.try_get()?.now::<u8>()", 1, 7).as_deref(),
            Some("`CLOCK.try_get()?.now(..)`")
        );
        assert_eq!(
            call("CLOCK.get().r#type()", 1, 7).as_deref(),
            Some("`CLOCK.get().type(..)`")
        );
    }

    #[test]
    fn a_receiver_that_is_not_a_path_is_left_out() {
        assert_eq!(
            call("self.facades().gateway().get().charge(1)", 1, 26).as_deref(),
            Some("`.get().charge(..)`")
        );
        assert_eq!(
            call("(&GATEWAY).get().charge(1)", 1, 12).as_deref(),
            Some("`.get().charge(..)`")
        );
    }

    #[test]
    fn no_call_when_the_source_does_not_read_like_one_there() {
        // A guard kept in a variable, a method of try_get's Result, another column.
        assert_eq!(call("let guard = CLOCK.get();", 1, 19), None);
        assert_eq!(call("CLOCK.try_get().map(|c| c.now())", 1, 7), None);
        assert_eq!(call("CLOCK.get().now()", 1, 3), None);
        assert_eq!(call("CLOCK.get().now()", 2, 7), None);
        assert_eq!(call("CLOCK.get().now()", 1, 99), None);
        assert_eq!(call("CLOCK.get().0", 1, 7), None);
        assert_eq!(call("CLOCK.get().field", 1, 7), None);
    }

    #[test]
    fn a_real_call_is_read_from_its_file() {
        /// What `get` hands out: it says where `get` was called.
        struct Seen(&'static Location<'static>);
        impl Seen {
            fn now(&self) -> &'static Location<'static> {
                self.0
            }
        }
        struct Probe;
        impl Probe {
            #[track_caller]
            fn get(&self) -> Seen {
                Seen(Location::caller())
            }
        }
        // `file!()` is named from the workspace's root; the test runs in the package's
        // folder: the file is found above it.
        let at = Probe.get().now();
        assert_eq!(at.file(), file!());
        assert_eq!(read(at).unwrap().to_string(), "`Probe.get().now(..)`");
        assert_eq!(read(at).unwrap().receiver(), Some("Probe"));
        // A location in this file where no `get` starts: no call.
        let elsewhere = Location::caller();
        assert!(read(elsewhere).is_none());
    }
}
