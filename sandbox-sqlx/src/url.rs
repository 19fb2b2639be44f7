//! A sandbox's database URL: checked against the database when the sandbox is built, shown
//! with its password hidden, and with where it came from (an environment variable), for
//! the messages of a server that can't be reached.

use std::fmt;

/// The URL a sandbox connects to, as its messages show it.
#[derive(Clone)]
pub(crate) struct DatabaseUrl {
    url: String,
    /// The environment variable it was read from, if any.
    variable: Option<String>,
}

/// What is wrong with a URL, for [`SandboxError::Url`](crate::SandboxError::Url).
///
/// ```
/// use sandbox_sqlx::{Sandbox, SandboxError, UrlProblem};
/// use sqlx::Postgres;
///
/// let typo = Sandbox::<Postgres>::builder("app-db", "postgresql:/test").build();
/// assert!(matches!(typo, Err(SandboxError::Url { problem: UrlProblem::NoScheme, .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlProblem {
    /// The URL doesn't start with `<scheme>://` (`sqlite:` for SQLite).
    NoScheme,
    /// Its scheme is another database's.
    OtherDatabase {
        /// The URL's scheme.
        scheme: String,
    },
    /// The environment variable that should hold it is not set.
    VariableNotSet,
    /// sqlx can't parse it (sqlx's reason is the error's
    /// [`source()`](std::error::Error::source)).
    Unparsable,
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlProblem::NoScheme => f.write_str("does not start with a scheme (`scheme://`)"),
            UrlProblem::OtherDatabase { scheme } => write!(
                f,
                "is a `{scheme}:` URL, which is not the sandbox's database (check the \
                 sandbox's type parameter, or the variable the URL came from)"
            ),
            UrlProblem::VariableNotSet => f.write_str("is not set"),
            UrlProblem::Unparsable => f.write_str("can't be read by sqlx"),
        }
    }
}

impl DatabaseUrl {
    pub(crate) fn given(url: String) -> DatabaseUrl {
        DatabaseUrl {
            url,
            variable: None,
        }
    }

    pub(crate) fn from_variable(variable: String) -> DatabaseUrl {
        DatabaseUrl {
            url: std::env::var(&variable).unwrap_or_default(),
            variable: Some(variable),
        }
    }

    /// A URL made from the one in `variable` (the tests' database beside the one it
    /// names): messages say where it came from.
    pub(crate) fn derived(url: String, variable: &str) -> DatabaseUrl {
        DatabaseUrl {
            url,
            variable: Some(variable.to_owned()),
        }
    }

    /// The URL itself, password and all: for connecting, never for messages.
    pub(crate) fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL with its password hidden.
    pub(crate) fn redacted(&self) -> String {
        ownership_runtime::runwide::redact_url(&self.url)
    }

    /// The URL as messages show it: password hidden, and where it came from
    /// (`postgres://app:***@db/app (from DATABASE_URL)`, `in DATABASE_URL` when unset).
    pub(crate) fn shown(&self) -> String {
        match &self.variable {
            Some(variable) if self.url.is_empty() => format!("in {variable}"),
            _ => format!("{}{}", self.redacted(), self.origin()),
        }
    }

    /// Where the URL came from, for messages: ` (from DATABASE_URL)`, or nothing.
    pub(crate) fn origin(&self) -> String {
        self.variable
            .as_deref()
            .map(|variable| format!(" (from {variable})"))
            .unwrap_or_default()
    }

    /// The variable to change in a fix: the one it came from, or the one suites use.
    pub(crate) fn variable_to_set(&self) -> &str {
        self.variable.as_deref().unwrap_or("DATABASE_URL")
    }

    /// Whether the URL fits a database whose URL schemes are `schemes`.
    pub(crate) fn check(&self, schemes: &[&str]) -> Result<(), UrlProblem> {
        if self.variable.is_some() && std::env::var_os(self.variable_to_set()).is_none() {
            return Err(UrlProblem::VariableNotSet);
        }
        let scheme = if schemes == ["sqlite"] {
            // `sqlite::memory:`, `sqlite:app.db`, `sqlite://app.db`.
            self.url.split_once(':').map(|(scheme, _)| scheme)
        } else {
            self.url.split_once("://").map(|(scheme, _)| scheme)
        };
        match scheme {
            None => Err(UrlProblem::NoScheme),
            Some(scheme) if schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) => Ok(()),
            Some(scheme) if scheme.is_empty() || scheme.contains(['/', '@']) => {
                Err(UrlProblem::NoScheme)
            }
            Some(scheme) => Err(UrlProblem::OtherDatabase {
                scheme: scheme.to_owned(),
            }),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.redacted(), self.origin())
    }
}

#[cfg(test)]
mod tests {
    use super::{DatabaseUrl, UrlProblem};

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        let url = |text: &str| DatabaseUrl::given(text.to_owned()).redacted();
        assert_eq!(
            url("postgres://app:s3cr@t@db:5432/app?sslmode=disable"),
            "postgres://app:***@db:5432/app?sslmode=disable"
        );
        assert_eq!(
            url("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(url("sqlite://target/app.db"), "sqlite://target/app.db");
    }

    #[test]
    fn a_scheme_must_fit_the_database() {
        let check =
            |text: &str, schemes: &[&str]| DatabaseUrl::given(text.to_owned()).check(schemes);
        let postgres = ["postgres", "postgresql"];
        assert_eq!(check("postgres://root@db/test", &postgres), Ok(()));
        assert_eq!(check("PostgreSQL://root@db/test", &postgres), Ok(()));
        assert_eq!(check("postgresql:/x", &postgres), Err(UrlProblem::NoScheme));
        assert_eq!(check("db/test", &postgres), Err(UrlProblem::NoScheme));
        for other in ["foo://x", "mysql://root@db/test"] {
            assert!(
                matches!(
                    check(other, &postgres),
                    Err(UrlProblem::OtherDatabase { .. })
                ),
                "{other}"
            );
        }
        assert_eq!(check("sqlite::memory:", &["sqlite"]), Ok(()));
        assert_eq!(check("sqlite:app.db", &["sqlite"]), Ok(()));
        assert!(check("app.db", &["sqlite"]).is_err());
    }
}
