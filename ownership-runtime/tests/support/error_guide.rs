//! Reads `docs/errors.md`, the guide to every error a user can see, and checks one crate's
//! part of it against the messages that crate renders: the snapshot test of the guide.
//!
//! One copy for the whole workspace: each crate's `tests/error_guide.rs` includes this file
//! with `#[path = "../../ownership-runtime/tests/support/error_guide.rs"] mod error_guide;`
//! and calls [`check`] with its part's name (the guide's `## <crate>` heading) and, for each
//! `### ` heading of that part, the message it renders.
//!
//! The guide's layout, as this reads it: a part is everything from its `## <crate>` line to
//! the next `## ` line; a section is a `### <heading>` line and what follows it up to the
//! next heading; a section's rendered message is its first fenced block that opens with
//! ```` ```text ````.
//!
//! Messages are compared after [`normalize`]: actor numbers and source locations, which
//! change from run to run and edit to edit, read `actor#N` and `file.rs:LINE:COL`.
//!
//! With `UPDATE_ERROR_GUIDE=1`, [`check`] rewrites the blocks of the part's sections with
//! the messages as they are now, and fails only for headings that must be added or
//! removed by hand (their prose says what the error means and how to fix it).

use std::path::{Path, PathBuf};

/// The guide: `docs/errors.md` at the workspace's root (every crate of it is a folder of
/// the root).
pub fn guide_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/errors.md")
}

/// `message` as the guide shows it: every `actor#<number>` as `actor#N`, every
/// `<file>.rs:<line>:<column>` as `<file>.rs:LINE:COL`.
pub fn normalize(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("actor#")
            && let Some(digits) = leading_digits(after)
        {
            out.push_str("actor#N");
            rest = &after[digits..];
        } else if let Some(after) = rest.strip_prefix(".rs:")
            && let Some(line) = leading_digits(after)
            && let Some(column) = after[line..].strip_prefix(':').and_then(leading_digits)
        {
            out.push_str(".rs:LINE:COL");
            rest = &after[line + 1 + column..];
        } else {
            let next = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..next]);
            rest = &rest[next..];
        }
    }
    out
}

/// The length of the ASCII digits `text` starts with, if any.
fn leading_digits(text: &str) -> Option<usize> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0).then_some(digits)
}

/// One `### ` section of a part: its heading, and the lines of its first ```` ```text ````
/// block (`None` if it has none), as line numbers into the whole guide.
#[derive(Debug)]
struct Section {
    heading: String,
    /// The lines strictly between the block's fences.
    block: Option<(usize, usize)>,
}

/// The sections of the part `## <part>` of `lines`, or `None` if the guide has no such part.
fn sections(lines: &[&str], part: &str) -> Option<Vec<Section>> {
    let start = lines
        .iter()
        .position(|line| line.strip_prefix("## ") == Some(part))?;
    let end = lines[start + 1..]
        .iter()
        .position(|line| line.starts_with("## "))
        .map_or(lines.len(), |offset| start + 1 + offset);
    let mut sections: Vec<Section> = Vec::new();
    let mut index = start + 1;
    while index < end {
        let line = lines[index];
        if let Some(heading) = line.strip_prefix("### ") {
            sections.push(Section {
                heading: heading.trim().to_owned(),
                block: None,
            });
        } else if line.trim_end() == "```text"
            && let Some(section) = sections.last_mut()
        {
            let close = lines[index + 1..end]
                .iter()
                .position(|line| line.trim_end() == "```")
                .map_or(end, |offset| index + 1 + offset);
            if section.block.is_none() {
                section.block = Some((index + 1, close));
            }
            index = close;
        }
        index += 1;
    }
    Some(sections)
}

/// Checks the part `## <part>` of the guide against `rendered`: for each heading, the
/// message the crate renders (before [`normalize`]). Fails, listing every difference, if a
/// block differs from its message, a heading of the part has no message here (a stale
/// section), or a message has no section. With `UPDATE_ERROR_GUIDE=1` it rewrites the
/// differing blocks first.
#[track_caller]
pub fn check(part: &str, rendered: &[(&str, String)]) {
    let path = guide_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("could not read the guide {}: {error}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let Some(sections) = sections(&lines, part) else {
        panic!(
            "the guide {} has no part `## {part}`: add it, with a `### ` section per error",
            path.display()
        );
    };
    let update = std::env::var("UPDATE_ERROR_GUIDE").is_ok_and(|value| value == "1");
    let mut problems = Vec::new();
    let mut replacements: Vec<((usize, usize), String)> = Vec::new();
    for (heading, message) in rendered {
        let message = normalize(message);
        let mut matching = sections
            .iter()
            .filter(|section| section.heading == *heading);
        let (Some(section), None) = (matching.next(), matching.next()) else {
            problems.push(format!(
                "`### {heading}`: the part `## {part}` needs exactly one section of that \
                 heading (what the error means, why it happens, how to fix it, and a \
                 ```text block), rendered as:\n{message}"
            ));
            continue;
        };
        match section.block {
            Some((first, end)) => {
                let shown = lines[first..end].join("\n");
                if shown != message {
                    if update {
                        replacements.push(((first, end), message));
                    } else {
                        problems.push(format!(
                            "`### {heading}`: the guide shows\n{shown}\nbut the message is\n{message}"
                        ));
                    }
                }
            }
            None => problems.push(format!(
                "`### {heading}` has no ```text block; the message is\n{message}"
            )),
        }
    }
    for section in &sections {
        if !rendered
            .iter()
            .any(|(heading, _)| *heading == section.heading)
        {
            problems.push(format!(
                "`### {}` in the part `## {part}` is not rendered by this crate's guide test: \
                 remove the section, or render the error in the test",
                section.heading
            ));
        }
    }
    if !replacements.is_empty() {
        rewrite(&path, &lines, replacements, text.ends_with('\n'));
    }
    assert!(
        problems.is_empty(),
        "docs/errors.md and the messages of {part} differ (UPDATE_ERROR_GUIDE=1 rewrites the \
         blocks; headings are added and removed by hand):\n\n{}",
        problems.join("\n\n")
    );
}

/// Writes the guide again with the blocks at `replacements` (line ranges) replaced.
fn rewrite(
    path: &Path,
    lines: &[&str],
    mut replacements: Vec<((usize, usize), String)>,
    final_newline: bool,
) {
    replacements.sort_by_key(|((first, _), _)| *first);
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    let mut next = 0;
    for ((first, end), message) in &replacements {
        out.extend_from_slice(&lines[next..*first]);
        out.extend(message.lines());
        next = *end;
    }
    out.extend_from_slice(&lines[next..]);
    let mut text = out.join("\n");
    if final_newline {
        text.push('\n');
    }
    std::fs::write(path, text)
        .unwrap_or_else(|error| panic!("could not write the guide {}: {error}", path.display()));
}

#[test]
fn normalizing_hides_actor_numbers_and_source_locations() {
    assert_eq!(
        normalize("actor#12 (tests::a) installed at src/lib.rs:40:9; actor# and x.rs:1 stay"),
        "actor#N (tests::a) installed at src/lib.rs:LINE:COL; actor# and x.rs:1 stay"
    );
}

#[test]
fn a_part_is_read_up_to_the_next_part_and_each_section_to_its_first_block() {
    let guide = "# Guide\n## a\n### A::One\ntext\n```text\none\n```\n```text\nnot this\n```\n\
                 ### A::Two\n## b\n### B::One\n```text\nb\n```\n";
    let lines: Vec<&str> = guide.lines().collect();
    let part = sections(&lines, "a").unwrap();
    let headings: Vec<&str> = part
        .iter()
        .map(|section| section.heading.as_str())
        .collect();
    assert_eq!(headings, ["A::One", "A::Two"]);
    let (first, end) = part[0].block.unwrap();
    assert_eq!(lines[first..end], ["one"]);
    assert!(part[1].block.is_none());
    assert!(sections(&lines, "c").is_none());
}
