//! Fixtures (`#[owned_test(fixtures("users", "orders"))]`): SQL scripts run in the test's
//! transaction before its body, so that they vanish with its rollback.
//!
//! Each script runs as `#[sqlx::test]` runs it, in one go, in a transaction of its own
//! (a savepoint inside the test's). If it fails, it is rolled back and replayed one
//! statement at a time, to name the statement that failed.

use sqlx::{AssertSqlSafe, Connection, Executor};

use crate::backend::SandboxDatabase;
use crate::error::SandboxError;

/// A fixture a test names: its file as the test names it and its SQL, embedded when the
/// test is compiled (`#[owned_test]` does it with `include_str!`).
///
/// ```
/// use sandbox_sqlx::TestFixture;
///
/// static USERS: TestFixture = TestFixture::new(
///     "fixtures/users.sql",
///     "INSERT INTO users (name) VALUES ('ada');",
/// );
/// assert_eq!(USERS.path(), "fixtures/users.sql");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TestFixture {
    path: &'static str,
    sql: &'static str,
}

impl TestFixture {
    /// A fixture from the file `path` (for messages), whose SQL is `sql`.
    ///
    /// ```
    /// use sandbox_sqlx::TestFixture;
    ///
    /// const TAGS: TestFixture = TestFixture::new("fixtures/tags.sql", "INSERT INTO tags VALUES (1)");
    /// assert!(TAGS.sql().starts_with("INSERT"));
    /// ```
    pub const fn new(path: &'static str, sql: &'static str) -> TestFixture {
        TestFixture { path, sql }
    }

    /// The file, as the test names it.
    ///
    /// ```
    /// # use sandbox_sqlx::TestFixture;
    /// assert_eq!(TestFixture::new("./seed.sql", "").path(), "./seed.sql");
    /// ```
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The SQL.
    ///
    /// ```
    /// # use sandbox_sqlx::TestFixture;
    /// assert_eq!(TestFixture::new("a.sql", "SELECT 1").sql(), "SELECT 1");
    /// ```
    pub fn sql(&self) -> &'static str {
        self.sql
    }
}

/// Runs `fixtures`, in order, on `connection`: each in a transaction of its own (a
/// savepoint inside the test's), so that a failing one leaves nothing half done.
pub(crate) async fn apply<DB: SandboxDatabase>(
    connection: &mut DB::Connection,
    fixtures: &[TestFixture],
    label: &str,
) -> Result<(), SandboxError>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    for fixture in fixtures {
        let failed = |number, statement: &str, source| SandboxError::Fixture {
            label: label.to_owned(),
            fixture: fixture.path,
            number,
            statement: shortened(statement),
            source: Box::new(source),
        };
        let mut whole = connection
            .begin()
            .await
            .map_err(|source| failed(0, "BEGIN", source))?;
        let error = match whole
            .execute(sqlx::raw_sql(AssertSqlSafe(fixture.sql)))
            .await
        {
            Ok(_) => {
                whole
                    .commit()
                    .await
                    .map_err(|source| failed(0, "COMMIT", source))?;
                continue;
            }
            Err(error) => error,
        };
        whole
            .rollback()
            .await
            .map_err(|source| failed(0, "ROLLBACK", source))?;
        // Find the statement that failed: replay them one at a time, then roll back.
        if let Ok(mut replay) = connection.begin().await {
            for (index, statement) in statements(fixture.sql).into_iter().enumerate() {
                let replayed = replay
                    .execute(sqlx::raw_sql(AssertSqlSafe(statement)))
                    .await;
                if let Err(source) = replayed {
                    let _ = replay.rollback().await;
                    return Err(failed(index + 1, statement, source));
                }
            }
            let _ = replay.rollback().await;
        }
        return Err(failed(0, fixture.sql, error));
    }
    Ok(())
}

/// A statement for a message: its first line, at most 80 characters.
fn shortened(statement: &str) -> String {
    let line = statement.trim().lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(80).collect();
    if short.len() < statement.trim().len() {
        short.push_str(" ..");
    }
    short
}

/// The statements of a script, split at the semicolons outside quotes (`'..'`, `".."`,
/// `` `..` ``), PostgreSQL's dollar quotes (`$tag$..$tag$`) and comments; empty ones are
/// left out.
fn statements(script: &str) -> Vec<&str> {
    let bytes = script.as_bytes();
    let mut statements = Vec::new();
    let (mut start, mut at) = (0, 0);
    while at < bytes.len() {
        match bytes[at] {
            quote @ (b'\'' | b'"' | b'`') => {
                at += 1;
                while at < bytes.len() {
                    if bytes[at] == quote {
                        // A doubled quote is the quote itself.
                        if bytes.get(at + 1) == Some(&quote) {
                            at += 1;
                        } else {
                            break;
                        }
                    }
                    at += 1;
                }
            }
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                while at < bytes.len() && bytes[at] != b'\n' {
                    at += 1;
                }
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at += 2;
                while at + 1 < bytes.len() && !(bytes[at] == b'*' && bytes[at + 1] == b'/') {
                    at += 1;
                }
                at += 1;
            }
            b'$' => {
                let tag_end = script[at + 1..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .map(|end| at + 1 + end);
                if let Some(tag_end) = tag_end.filter(|&end| bytes[end] == b'$') {
                    let tag = &script[at..=tag_end];
                    match script[tag_end + 1..].find(tag) {
                        Some(close) => at = tag_end + close + tag.len(),
                        None => at = bytes.len(),
                    }
                }
            }
            b';' => {
                statements.push(&script[start..at]);
                start = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    statements.push(&script[start.min(script.len())..]);
    statements
        .into_iter()
        .map(str::trim)
        .filter(|statement| !is_blank(statement))
        .collect()
}

/// Whether a statement is only comments and blanks.
fn is_blank(statement: &str) -> bool {
    statement.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with("--")
    }) || (statement.starts_with("/*") && statement.ends_with("*/"))
}

#[cfg(test)]
mod tests {
    use super::{shortened, statements};

    #[test]
    fn statements_split_at_semicolons_outside_quotes_and_comments() {
        let script = "INSERT INTO t VALUES ('a;b');\n-- a comment; still one\nINSERT INTO t VALUES (\"x;\");\n\
                      /* c; d */ UPDATE t SET v = 'it''s; fine';\n\
                      CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n";
        let split = statements(script);
        assert_eq!(split.len(), 4, "{split:#?}");
        assert_eq!(split[0], "INSERT INTO t VALUES ('a;b')");
        assert!(split[1].ends_with("INSERT INTO t VALUES (\"x;\")"));
        assert!(split[2].ends_with("UPDATE t SET v = 'it''s; fine'"));
        assert!(split[3].ends_with("$body$ LANGUAGE sql"));
    }

    #[test]
    fn a_script_without_a_final_semicolon_keeps_its_last_statement() {
        assert_eq!(statements("SELECT 1; SELECT 2"), ["SELECT 1", "SELECT 2"]);
        assert!(statements("-- nothing\n;\n").is_empty());
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        assert_eq!(statements("SELECT $1; SELECT 2"), ["SELECT $1", "SELECT 2"]);
    }

    #[test]
    fn messages_show_the_first_line_of_a_statement() {
        assert_eq!(shortened("INSERT INTO t\nVALUES (1)"), "INSERT INTO t ..");
        assert_eq!(shortened("SELECT 1"), "SELECT 1");
    }
}
