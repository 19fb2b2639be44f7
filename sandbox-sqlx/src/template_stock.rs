//! The stock of [`TemplateDatabase`](crate::TemplateDatabase): databases cloned from the
//! template ahead of the tests that will need them, so that `CREATE DATABASE .. TEMPLATE`
//! (40-300 ms) is off the test's path.
//!
//! A database of the stock is named after its template, `<template>_<8 hex digits>`, and
//! nobody connects to it. A test claims one by renaming it to the test's own name
//! (`ALTER DATABASE .. RENAME`, atomic on the server: of two processes that pick the same
//! one, one gets it and the other tries the next), which costs two round trips: the list,
//! then the rename. Every process that shares the server (nextest's processes, other
//! checkouts, other machines) shares the stock of a template, since its name says which
//! migrations it holds.
//!
//! Claiming one sends the making of its replacement, in the background; a test that found
//! the stock short makes its own database as before and fills the stock up to its size
//! ([`size`]). In nextest's process-per-test mode the process sends the replacement's
//! `CREATE DATABASE` and leaves before it completes: the server completes it on its own.
//! The stock stays bounded: at most its size, plus one per process that claimed at the
//! same time. What is left at the end of a run serves the next run with the same
//! migrations (a database of the stock is as good as new: nobody ever connected to it);
//! `TemplateDatabase::sweep_all` drops it with the rest.

use std::time::Duration;

use ownership_runtime::background;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tokio::task::JoinHandle;

use crate::closed::sqlstate;
use crate::leftovers;

/// The variable that sets the stock's size (`0`: no stock).
pub(crate) const SIZE_VARIABLE: &str = "SANDBOX_SQLX_TEMPLATE_STOCK";

/// How long a process that is about to exit waits for a replacement's `CREATE DATABASE`
/// to go out: it is sent, and the server completes it after the process has gone.
const CREATE_SENT: Duration = Duration::from_millis(20);

/// How many databases the stock of a template keeps ready: [`SIZE_VARIABLE`] if set, else
/// one more than the machine's cores (tests run at most that many at once), at most 8.
pub(crate) fn size() -> usize {
    if let Some(size) = std::env::var(SIZE_VARIABLE)
        .ok()
        .and_then(|size| size.trim().parse().ok())
    {
        return size;
    }
    std::thread::available_parallelism()
        .map_or(2, |cores| cores.get() + 1)
        .min(8)
}

/// The prefix of the names of `template`'s stock.
fn prefix(template: &str) -> String {
    format!("{template}_")
}

/// Whether `rest`, a name past `<template>_`, is a database of a stock.
pub(crate) fn is_stock_suffix(rest: &str) -> bool {
    rest.len() == 8 && rest.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fresh name for a database of `template`'s stock.
fn fresh_name(template: &str) -> String {
    // Unique per process and call (host, pid, start, counter), hashed to fit PostgreSQL's
    // 63 bytes; a clash (1 in 4 billion) fails that one `CREATE`, nothing more.
    let unique = leftovers::fresh_name("stock", '_');
    let hash = ownership_runtime::runwide::stable_hash(&unique) & 0xffff_ffff;
    format!("{}{hash:08x}", prefix(template))
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    /// Whether a database of the stock is now the test's.
    pub(crate) claimed: bool,
    /// How many were left in the stock after it (as far as the list said).
    pub(crate) left: usize,
}

/// Claims a database of `template`'s stock for the test's database `name`.
pub(crate) async fn claim(
    admin: &mut PgConnection,
    template: &str,
    name: &str,
) -> Result<Claim, sqlx::Error> {
    let ready: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
    )
    .bind(prefix(template))
    .fetch_all(&mut *admin)
    .await?;
    let ready: Vec<String> = ready
        .into_iter()
        .filter(|stock| is_stock_suffix(&stock[prefix(template).len()..]))
        .collect();
    // Processes start at different places in the list, so that they rarely race for one.
    let start = usize::try_from(std::process::id()).unwrap_or(0) % ready.len().max(1);
    for (tried, stock) in ready
        .iter()
        .cycle()
        .skip(start)
        .take(ready.len())
        .enumerate()
    {
        let renamed = admin
            .execute(AssertSqlSafe(format!(
                "ALTER DATABASE \"{stock}\" RENAME TO \"{name}\""
            )))
            .await;
        match renamed {
            Ok(_) => {
                return Ok(Claim {
                    claimed: true,
                    left: ready.len() - tried - 1,
                });
            }
            // invalid_catalog_name: another process claimed it first; object_in_use:
            // someone is connected to it (a stray `psql`): both leave it to the next one.
            Err(error) if matches!(sqlstate(&error).as_deref(), Some("3D000" | "55006")) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(Claim {
        claimed: false,
        left: 0,
    })
}

/// How many databases to add to the stock after `claim`: the one claimed, or, for a test
/// that found the stock short, up to the stock's size (`first` in its process) or one.
pub(crate) fn to_make(claim: Claim, first: bool) -> usize {
    let missing = size().saturating_sub(claim.left);
    if claim.claimed || !first {
        missing.min(1)
    } else {
        missing
    }
}

/// Starts making `count` databases of `template`'s stock on the background runtime, each
/// on a connection of its own (in a process that is about to exit, a statement queued
/// behind another on one connection would never run). With `leave`, each waits only for
/// its `CREATE DATABASE` to go out.
pub(crate) fn make(url: &str, template: &str, count: usize, leave: bool) -> Vec<JoinHandle<()>> {
    let Ok(runtime) = background::handle() else {
        return Vec::new();
    };
    (0..count)
        .map(|_| {
            let (url, template) = (url.to_owned(), template.to_owned());
            runtime.spawn(async move {
                let Ok(mut admin) = PgConnection::connect(&url).await else {
                    return;
                };
                let create = admin.execute(AssertSqlSafe(format!(
                    "CREATE DATABASE \"{}\" TEMPLATE \"{template}\"",
                    fresh_name(&template)
                )));
                if leave {
                    // Sent; the server completes it after this process has gone.
                    let _ = tokio::time::timeout(CREATE_SENT, create).await;
                    return;
                }
                // A failure (the template swept, a clash of names) leaves the stock one
                // short: the next test that finds it short makes one again.
                let _ = create.await;
                let _ = admin.close().await;
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_names_fit_postgres_and_are_told_apart_from_other_names() {
        let template = "sandbox_abcdefghijklmn_template_0123456789abcdef";
        let name = fresh_name(template);
        assert!(name.len() <= 63, "{name}");
        assert!(is_stock_suffix(&name[prefix(template).len()..]));
        assert_ne!(name, fresh_name(template));
        assert!(!is_stock_suffix("test_1"));
        assert!(!is_stock_suffix("0123456g"));
    }

    #[test]
    fn a_claim_adds_one_and_a_first_miss_fills_the_stock() {
        let size = size();
        let claimed = Claim {
            claimed: true,
            left: 0,
        };
        assert_eq!(to_make(claimed, true), 1.min(size));
        let full = Claim {
            claimed: true,
            left: size,
        };
        assert_eq!(to_make(full, true), 0);
        let missed = Claim {
            claimed: false,
            left: 0,
        };
        assert_eq!(to_make(missed, true), size);
        assert_eq!(to_make(missed, false), 1.min(size));
    }
}
