// Shared by the sandbox benchmark's suites: `hundred_tests!(attribute, (parameters), body)`
// declares 100 async tests (10 x 10 nested modules) with that attribute, those parameters
// and that body.

macro_rules! hundred_tests {
    (@tests $attribute:meta; $parameters:tt; $body:block; $($test:ident)*) => {
        $(
            #[$attribute]
            async fn $test $parameters $body
        )*
    };
    (@modules $attribute:meta; $parameters:tt; $body:block; $($module:ident)*) => {
        $(
            mod $module {
                #[allow(unused_imports)]
                use super::*;
                hundred_tests!(@tests $attribute; $parameters; $body; t0 t1 t2 t3 t4 t5 t6 t7 t8 t9);
            }
        )*
    };
    ($attribute:meta, $parameters:tt, $body:block) => {
        hundred_tests!(@modules $attribute; $parameters; $body; m0 m1 m2 m3 m4 m5 m6 m7 m8 m9);
    };
}

/// One insert and one select, as the benchmark defines a test: an organization with a
/// unique slug, selected back by id.
#[allow(dead_code)]
async fn insert_and_select<'e, E>(db: E)
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres> + Copy,
{
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let slug = format!("org-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let id: i64 = sqlx::query_scalar("INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id")
        .bind(&slug)
        .fetch_one(db)
        .await
        .expect("insert");
    let found: String = sqlx::query_scalar("SELECT slug FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("select");
    assert_eq!(found, slug);
}

/// [`insert_and_select`] on SQLite (`migrations-sqlite-5`).
#[allow(dead_code)]
async fn insert_and_select_sqlite<'e, E>(db: E)
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite> + Copy,
{
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let slug = format!("org-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let id: i64 = sqlx::query_scalar("INSERT INTO organizations (name, slug) VALUES (?1, ?1) RETURNING id")
        .bind(&slug)
        .fetch_one(db)
        .await
        .expect("insert");
    let found: String = sqlx::query_scalar("SELECT slug FROM organizations WHERE id = ?1")
        .bind(id)
        .fetch_one(db)
        .await
        .expect("select");
    assert_eq!(found, slug);
}
