//! The drop-in proof: one suite of 100 tests of the tracker app (`app.rs`, code typed
//! `&PgPool`) on the five benchmark migrations, twice. `sqlx_suite.rs` runs it with
//! `#[sqlx::test]` (a database created and migrated per test); `owned_suite.rs` is the
//! same file with only the attribute and its import changed (the `dropin_diff` test checks
//! it), and runs each test in a transaction rolled back at its end.

#[path = "app.rs"]
mod app;

use app::*;
use ownership_runtime::owned_test;
use sqlx::PgPool;

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn creates_an_organization_1(pool: PgPool) -> sqlx::Result<()> {
    let id = create_organization(&pool, "Acme 1", "acme-1").await?;
    let found = organization_by_slug(&pool, "acme-1").await?;
    assert_eq!(found, Some((id, "Acme 1".to_owned())));
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn refuses_a_duplicate_slug_1(pool: PgPool) -> sqlx::Result<()> {
    create_organization(&pool, "Globex 2", "globex-2").await?;
    let duplicate = create_organization(&pool, "Globex again", "globex-2").await;
    let error = duplicate.expect_err("the slug is taken");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    // The failed insert leaves the rest of the test working.
    assert!(organization_by_slug(&pool, "globex-2").await?.is_some());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn lists_members_by_name_1(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Initech 3", "initech-3").await?;
    add_user(&pool, org, "peter3@initech.test", "Peter").await?;
    add_user(&pool, org, "milton3@initech.test", "Milton").await?;
    assert_eq!(members(&pool, org).await?, ["Milton", "Peter"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn emails_are_unique_whatever_their_case_1(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Hooli 4", "hooli-4").await?;
    add_user(&pool, org, "gavin4@hooli.test", "Gavin").await?;
    let again = add_user(&pool, org, "GAVIN4@hooli.test", "Gavin B.").await;
    assert!(again.is_err(), "emails are unique regardless of case");
    assert_eq!(members(&pool, org).await?, ["Gavin"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn archived_projects_are_not_active_1(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Umbrella 5", "umbrella-5").await?;
    let old = create_project(&pool, org, "old").await?;
    create_project(&pool, org, "new").await?;
    archive_project(&pool, old).await?;
    assert_eq!(active_projects(&pool, org).await?, ["new"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn adds_a_task_with_its_tags_1(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Stark 6", "stark-6").await?;
    let project = create_project(&pool, org, "suit").await?;
    add_task(&pool, project, "repulsors", &["hardware", "urgent"]).await?;
    add_task(&pool, project, "paint", &["hardware"]).await?;
    assert_eq!(
        tagged(&pool, org, "hardware").await?,
        ["paint", "repulsors"]
    );
    assert_eq!(tagged(&pool, org, "urgent").await?, ["repulsors"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn done_tasks_are_not_open_1(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Wayne 7", "wayne-7").await?;
    let project = create_project(&pool, org, "cave").await?;
    let first = add_task(&pool, project, "lights", &[]).await?;
    add_task(&pool, project, "bats", &[]).await?;
    move_task(&pool, first, "done").await?;
    assert_eq!(open_tasks(&pool, project).await?, 1);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn assigns_tasks_to_members_1(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Cyberdyne 8", "cyberdyne-8").await?;
    let miles = add_user(&pool, org, "miles8@cyberdyne.test", "Miles").await?;
    let project = create_project(&pool, org, "skynet").await?;
    let task = add_task(&pool, project, "chip", &[]).await?;
    assign(&pool, task, miles).await?;
    assert_eq!(assigned_to(&pool, miles).await?, ["chip"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn updates_touch_the_task_1(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Tyrell 9", "tyrell-9").await?;
    let project = create_project(&pool, org, "nexus").await?;
    let task = add_task(&pool, project, "replicant", &[]).await?;
    move_task(&pool, task, "doing").await?;
    assert!(was_updated(&pool, task).await?);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn a_failed_task_leaves_no_tags_1(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Soylent 10", "soylent-10").await?;
    let missing_project = 0;
    let failed = add_task(&pool, missing_project, "green", &["food"]).await;
    assert!(failed.is_err(), "no such project");
    assert!(tagged(&pool, org, "food").await?.is_empty());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn creates_an_organization_2(pool: PgPool) -> sqlx::Result<()> {
    let id = create_organization(&pool, "Acme 11", "acme-11").await?;
    let found = organization_by_slug(&pool, "acme-11").await?;
    assert_eq!(found, Some((id, "Acme 11".to_owned())));
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn refuses_a_duplicate_slug_2(pool: PgPool) -> sqlx::Result<()> {
    create_organization(&pool, "Globex 12", "globex-12").await?;
    let duplicate = create_organization(&pool, "Globex again", "globex-12").await;
    let error = duplicate.expect_err("the slug is taken");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    // The failed insert leaves the rest of the test working.
    assert!(organization_by_slug(&pool, "globex-12").await?.is_some());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn lists_members_by_name_2(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Initech 13", "initech-13").await?;
    add_user(&pool, org, "peter13@initech.test", "Peter").await?;
    add_user(&pool, org, "milton13@initech.test", "Milton").await?;
    assert_eq!(members(&pool, org).await?, ["Milton", "Peter"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn emails_are_unique_whatever_their_case_2(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Hooli 14", "hooli-14").await?;
    add_user(&pool, org, "gavin14@hooli.test", "Gavin").await?;
    let again = add_user(&pool, org, "GAVIN14@hooli.test", "Gavin B.").await;
    assert!(again.is_err(), "emails are unique regardless of case");
    assert_eq!(members(&pool, org).await?, ["Gavin"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn archived_projects_are_not_active_2(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Umbrella 15", "umbrella-15").await?;
    let old = create_project(&pool, org, "old").await?;
    create_project(&pool, org, "new").await?;
    archive_project(&pool, old).await?;
    assert_eq!(active_projects(&pool, org).await?, ["new"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn adds_a_task_with_its_tags_2(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Stark 16", "stark-16").await?;
    let project = create_project(&pool, org, "suit").await?;
    add_task(&pool, project, "repulsors", &["hardware", "urgent"]).await?;
    add_task(&pool, project, "paint", &["hardware"]).await?;
    assert_eq!(
        tagged(&pool, org, "hardware").await?,
        ["paint", "repulsors"]
    );
    assert_eq!(tagged(&pool, org, "urgent").await?, ["repulsors"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn done_tasks_are_not_open_2(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Wayne 17", "wayne-17").await?;
    let project = create_project(&pool, org, "cave").await?;
    let first = add_task(&pool, project, "lights", &[]).await?;
    add_task(&pool, project, "bats", &[]).await?;
    move_task(&pool, first, "done").await?;
    assert_eq!(open_tasks(&pool, project).await?, 1);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn assigns_tasks_to_members_2(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Cyberdyne 18", "cyberdyne-18").await?;
    let miles = add_user(&pool, org, "miles18@cyberdyne.test", "Miles").await?;
    let project = create_project(&pool, org, "skynet").await?;
    let task = add_task(&pool, project, "chip", &[]).await?;
    assign(&pool, task, miles).await?;
    assert_eq!(assigned_to(&pool, miles).await?, ["chip"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn updates_touch_the_task_2(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Tyrell 19", "tyrell-19").await?;
    let project = create_project(&pool, org, "nexus").await?;
    let task = add_task(&pool, project, "replicant", &[]).await?;
    move_task(&pool, task, "doing").await?;
    assert!(was_updated(&pool, task).await?);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn a_failed_task_leaves_no_tags_2(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Soylent 20", "soylent-20").await?;
    let missing_project = 0;
    let failed = add_task(&pool, missing_project, "green", &["food"]).await;
    assert!(failed.is_err(), "no such project");
    assert!(tagged(&pool, org, "food").await?.is_empty());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn creates_an_organization_3(pool: PgPool) -> sqlx::Result<()> {
    let id = create_organization(&pool, "Acme 21", "acme-21").await?;
    let found = organization_by_slug(&pool, "acme-21").await?;
    assert_eq!(found, Some((id, "Acme 21".to_owned())));
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn refuses_a_duplicate_slug_3(pool: PgPool) -> sqlx::Result<()> {
    create_organization(&pool, "Globex 22", "globex-22").await?;
    let duplicate = create_organization(&pool, "Globex again", "globex-22").await;
    let error = duplicate.expect_err("the slug is taken");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    // The failed insert leaves the rest of the test working.
    assert!(organization_by_slug(&pool, "globex-22").await?.is_some());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn lists_members_by_name_3(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Initech 23", "initech-23").await?;
    add_user(&pool, org, "peter23@initech.test", "Peter").await?;
    add_user(&pool, org, "milton23@initech.test", "Milton").await?;
    assert_eq!(members(&pool, org).await?, ["Milton", "Peter"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn emails_are_unique_whatever_their_case_3(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Hooli 24", "hooli-24").await?;
    add_user(&pool, org, "gavin24@hooli.test", "Gavin").await?;
    let again = add_user(&pool, org, "GAVIN24@hooli.test", "Gavin B.").await;
    assert!(again.is_err(), "emails are unique regardless of case");
    assert_eq!(members(&pool, org).await?, ["Gavin"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn archived_projects_are_not_active_3(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Umbrella 25", "umbrella-25").await?;
    let old = create_project(&pool, org, "old").await?;
    create_project(&pool, org, "new").await?;
    archive_project(&pool, old).await?;
    assert_eq!(active_projects(&pool, org).await?, ["new"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn adds_a_task_with_its_tags_3(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Stark 26", "stark-26").await?;
    let project = create_project(&pool, org, "suit").await?;
    add_task(&pool, project, "repulsors", &["hardware", "urgent"]).await?;
    add_task(&pool, project, "paint", &["hardware"]).await?;
    assert_eq!(
        tagged(&pool, org, "hardware").await?,
        ["paint", "repulsors"]
    );
    assert_eq!(tagged(&pool, org, "urgent").await?, ["repulsors"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn done_tasks_are_not_open_3(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Wayne 27", "wayne-27").await?;
    let project = create_project(&pool, org, "cave").await?;
    let first = add_task(&pool, project, "lights", &[]).await?;
    add_task(&pool, project, "bats", &[]).await?;
    move_task(&pool, first, "done").await?;
    assert_eq!(open_tasks(&pool, project).await?, 1);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn assigns_tasks_to_members_3(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Cyberdyne 28", "cyberdyne-28").await?;
    let miles = add_user(&pool, org, "miles28@cyberdyne.test", "Miles").await?;
    let project = create_project(&pool, org, "skynet").await?;
    let task = add_task(&pool, project, "chip", &[]).await?;
    assign(&pool, task, miles).await?;
    assert_eq!(assigned_to(&pool, miles).await?, ["chip"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn updates_touch_the_task_3(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Tyrell 29", "tyrell-29").await?;
    let project = create_project(&pool, org, "nexus").await?;
    let task = add_task(&pool, project, "replicant", &[]).await?;
    move_task(&pool, task, "doing").await?;
    assert!(was_updated(&pool, task).await?);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn a_failed_task_leaves_no_tags_3(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Soylent 30", "soylent-30").await?;
    let missing_project = 0;
    let failed = add_task(&pool, missing_project, "green", &["food"]).await;
    assert!(failed.is_err(), "no such project");
    assert!(tagged(&pool, org, "food").await?.is_empty());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn creates_an_organization_4(pool: PgPool) -> sqlx::Result<()> {
    let id = create_organization(&pool, "Acme 31", "acme-31").await?;
    let found = organization_by_slug(&pool, "acme-31").await?;
    assert_eq!(found, Some((id, "Acme 31".to_owned())));
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn refuses_a_duplicate_slug_4(pool: PgPool) -> sqlx::Result<()> {
    create_organization(&pool, "Globex 32", "globex-32").await?;
    let duplicate = create_organization(&pool, "Globex again", "globex-32").await;
    let error = duplicate.expect_err("the slug is taken");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    // The failed insert leaves the rest of the test working.
    assert!(organization_by_slug(&pool, "globex-32").await?.is_some());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn lists_members_by_name_4(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Initech 33", "initech-33").await?;
    add_user(&pool, org, "peter33@initech.test", "Peter").await?;
    add_user(&pool, org, "milton33@initech.test", "Milton").await?;
    assert_eq!(members(&pool, org).await?, ["Milton", "Peter"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn emails_are_unique_whatever_their_case_4(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Hooli 34", "hooli-34").await?;
    add_user(&pool, org, "gavin34@hooli.test", "Gavin").await?;
    let again = add_user(&pool, org, "GAVIN34@hooli.test", "Gavin B.").await;
    assert!(again.is_err(), "emails are unique regardless of case");
    assert_eq!(members(&pool, org).await?, ["Gavin"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn archived_projects_are_not_active_4(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Umbrella 35", "umbrella-35").await?;
    let old = create_project(&pool, org, "old").await?;
    create_project(&pool, org, "new").await?;
    archive_project(&pool, old).await?;
    assert_eq!(active_projects(&pool, org).await?, ["new"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn adds_a_task_with_its_tags_4(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Stark 36", "stark-36").await?;
    let project = create_project(&pool, org, "suit").await?;
    add_task(&pool, project, "repulsors", &["hardware", "urgent"]).await?;
    add_task(&pool, project, "paint", &["hardware"]).await?;
    assert_eq!(
        tagged(&pool, org, "hardware").await?,
        ["paint", "repulsors"]
    );
    assert_eq!(tagged(&pool, org, "urgent").await?, ["repulsors"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn done_tasks_are_not_open_4(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Wayne 37", "wayne-37").await?;
    let project = create_project(&pool, org, "cave").await?;
    let first = add_task(&pool, project, "lights", &[]).await?;
    add_task(&pool, project, "bats", &[]).await?;
    move_task(&pool, first, "done").await?;
    assert_eq!(open_tasks(&pool, project).await?, 1);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn assigns_tasks_to_members_4(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Cyberdyne 38", "cyberdyne-38").await?;
    let miles = add_user(&pool, org, "miles38@cyberdyne.test", "Miles").await?;
    let project = create_project(&pool, org, "skynet").await?;
    let task = add_task(&pool, project, "chip", &[]).await?;
    assign(&pool, task, miles).await?;
    assert_eq!(assigned_to(&pool, miles).await?, ["chip"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn updates_touch_the_task_4(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Tyrell 39", "tyrell-39").await?;
    let project = create_project(&pool, org, "nexus").await?;
    let task = add_task(&pool, project, "replicant", &[]).await?;
    move_task(&pool, task, "doing").await?;
    assert!(was_updated(&pool, task).await?);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn a_failed_task_leaves_no_tags_4(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Soylent 40", "soylent-40").await?;
    let missing_project = 0;
    let failed = add_task(&pool, missing_project, "green", &["food"]).await;
    assert!(failed.is_err(), "no such project");
    assert!(tagged(&pool, org, "food").await?.is_empty());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn creates_an_organization_5(pool: PgPool) -> sqlx::Result<()> {
    let id = create_organization(&pool, "Acme 41", "acme-41").await?;
    let found = organization_by_slug(&pool, "acme-41").await?;
    assert_eq!(found, Some((id, "Acme 41".to_owned())));
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn refuses_a_duplicate_slug_5(pool: PgPool) -> sqlx::Result<()> {
    create_organization(&pool, "Globex 42", "globex-42").await?;
    let duplicate = create_organization(&pool, "Globex again", "globex-42").await;
    let error = duplicate.expect_err("the slug is taken");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    // The failed insert leaves the rest of the test working.
    assert!(organization_by_slug(&pool, "globex-42").await?.is_some());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn lists_members_by_name_5(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Initech 43", "initech-43").await?;
    add_user(&pool, org, "peter43@initech.test", "Peter").await?;
    add_user(&pool, org, "milton43@initech.test", "Milton").await?;
    assert_eq!(members(&pool, org).await?, ["Milton", "Peter"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn emails_are_unique_whatever_their_case_5(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Hooli 44", "hooli-44").await?;
    add_user(&pool, org, "gavin44@hooli.test", "Gavin").await?;
    let again = add_user(&pool, org, "GAVIN44@hooli.test", "Gavin B.").await;
    assert!(again.is_err(), "emails are unique regardless of case");
    assert_eq!(members(&pool, org).await?, ["Gavin"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn archived_projects_are_not_active_5(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Umbrella 45", "umbrella-45").await?;
    let old = create_project(&pool, org, "old").await?;
    create_project(&pool, org, "new").await?;
    archive_project(&pool, old).await?;
    assert_eq!(active_projects(&pool, org).await?, ["new"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn adds_a_task_with_its_tags_5(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Stark 46", "stark-46").await?;
    let project = create_project(&pool, org, "suit").await?;
    add_task(&pool, project, "repulsors", &["hardware", "urgent"]).await?;
    add_task(&pool, project, "paint", &["hardware"]).await?;
    assert_eq!(
        tagged(&pool, org, "hardware").await?,
        ["paint", "repulsors"]
    );
    assert_eq!(tagged(&pool, org, "urgent").await?, ["repulsors"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn done_tasks_are_not_open_5(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Wayne 47", "wayne-47").await?;
    let project = create_project(&pool, org, "cave").await?;
    let first = add_task(&pool, project, "lights", &[]).await?;
    add_task(&pool, project, "bats", &[]).await?;
    move_task(&pool, first, "done").await?;
    assert_eq!(open_tasks(&pool, project).await?, 1);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn assigns_tasks_to_members_5(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Cyberdyne 48", "cyberdyne-48").await?;
    let miles = add_user(&pool, org, "miles48@cyberdyne.test", "Miles").await?;
    let project = create_project(&pool, org, "skynet").await?;
    let task = add_task(&pool, project, "chip", &[]).await?;
    assign(&pool, task, miles).await?;
    assert_eq!(assigned_to(&pool, miles).await?, ["chip"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn updates_touch_the_task_5(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Tyrell 49", "tyrell-49").await?;
    let project = create_project(&pool, org, "nexus").await?;
    let task = add_task(&pool, project, "replicant", &[]).await?;
    move_task(&pool, task, "doing").await?;
    assert!(was_updated(&pool, task).await?);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn a_failed_task_leaves_no_tags_5(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Soylent 50", "soylent-50").await?;
    let missing_project = 0;
    let failed = add_task(&pool, missing_project, "green", &["food"]).await;
    assert!(failed.is_err(), "no such project");
    assert!(tagged(&pool, org, "food").await?.is_empty());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn creates_an_organization_6(pool: PgPool) -> sqlx::Result<()> {
    let id = create_organization(&pool, "Acme 51", "acme-51").await?;
    let found = organization_by_slug(&pool, "acme-51").await?;
    assert_eq!(found, Some((id, "Acme 51".to_owned())));
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn refuses_a_duplicate_slug_6(pool: PgPool) -> sqlx::Result<()> {
    create_organization(&pool, "Globex 52", "globex-52").await?;
    let duplicate = create_organization(&pool, "Globex again", "globex-52").await;
    let error = duplicate.expect_err("the slug is taken");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    // The failed insert leaves the rest of the test working.
    assert!(organization_by_slug(&pool, "globex-52").await?.is_some());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn lists_members_by_name_6(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Initech 53", "initech-53").await?;
    add_user(&pool, org, "peter53@initech.test", "Peter").await?;
    add_user(&pool, org, "milton53@initech.test", "Milton").await?;
    assert_eq!(members(&pool, org).await?, ["Milton", "Peter"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn emails_are_unique_whatever_their_case_6(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Hooli 54", "hooli-54").await?;
    add_user(&pool, org, "gavin54@hooli.test", "Gavin").await?;
    let again = add_user(&pool, org, "GAVIN54@hooli.test", "Gavin B.").await;
    assert!(again.is_err(), "emails are unique regardless of case");
    assert_eq!(members(&pool, org).await?, ["Gavin"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn archived_projects_are_not_active_6(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Umbrella 55", "umbrella-55").await?;
    let old = create_project(&pool, org, "old").await?;
    create_project(&pool, org, "new").await?;
    archive_project(&pool, old).await?;
    assert_eq!(active_projects(&pool, org).await?, ["new"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn adds_a_task_with_its_tags_6(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Stark 56", "stark-56").await?;
    let project = create_project(&pool, org, "suit").await?;
    add_task(&pool, project, "repulsors", &["hardware", "urgent"]).await?;
    add_task(&pool, project, "paint", &["hardware"]).await?;
    assert_eq!(
        tagged(&pool, org, "hardware").await?,
        ["paint", "repulsors"]
    );
    assert_eq!(tagged(&pool, org, "urgent").await?, ["repulsors"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn done_tasks_are_not_open_6(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Wayne 57", "wayne-57").await?;
    let project = create_project(&pool, org, "cave").await?;
    let first = add_task(&pool, project, "lights", &[]).await?;
    add_task(&pool, project, "bats", &[]).await?;
    move_task(&pool, first, "done").await?;
    assert_eq!(open_tasks(&pool, project).await?, 1);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn assigns_tasks_to_members_6(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Cyberdyne 58", "cyberdyne-58").await?;
    let miles = add_user(&pool, org, "miles58@cyberdyne.test", "Miles").await?;
    let project = create_project(&pool, org, "skynet").await?;
    let task = add_task(&pool, project, "chip", &[]).await?;
    assign(&pool, task, miles).await?;
    assert_eq!(assigned_to(&pool, miles).await?, ["chip"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn updates_touch_the_task_6(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Tyrell 59", "tyrell-59").await?;
    let project = create_project(&pool, org, "nexus").await?;
    let task = add_task(&pool, project, "replicant", &[]).await?;
    move_task(&pool, task, "doing").await?;
    assert!(was_updated(&pool, task).await?);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn a_failed_task_leaves_no_tags_6(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Soylent 60", "soylent-60").await?;
    let missing_project = 0;
    let failed = add_task(&pool, missing_project, "green", &["food"]).await;
    assert!(failed.is_err(), "no such project");
    assert!(tagged(&pool, org, "food").await?.is_empty());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn creates_an_organization_7(pool: PgPool) -> sqlx::Result<()> {
    let id = create_organization(&pool, "Acme 61", "acme-61").await?;
    let found = organization_by_slug(&pool, "acme-61").await?;
    assert_eq!(found, Some((id, "Acme 61".to_owned())));
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn refuses_a_duplicate_slug_7(pool: PgPool) -> sqlx::Result<()> {
    create_organization(&pool, "Globex 62", "globex-62").await?;
    let duplicate = create_organization(&pool, "Globex again", "globex-62").await;
    let error = duplicate.expect_err("the slug is taken");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    // The failed insert leaves the rest of the test working.
    assert!(organization_by_slug(&pool, "globex-62").await?.is_some());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn lists_members_by_name_7(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Initech 63", "initech-63").await?;
    add_user(&pool, org, "peter63@initech.test", "Peter").await?;
    add_user(&pool, org, "milton63@initech.test", "Milton").await?;
    assert_eq!(members(&pool, org).await?, ["Milton", "Peter"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn emails_are_unique_whatever_their_case_7(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Hooli 64", "hooli-64").await?;
    add_user(&pool, org, "gavin64@hooli.test", "Gavin").await?;
    let again = add_user(&pool, org, "GAVIN64@hooli.test", "Gavin B.").await;
    assert!(again.is_err(), "emails are unique regardless of case");
    assert_eq!(members(&pool, org).await?, ["Gavin"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn archived_projects_are_not_active_7(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Umbrella 65", "umbrella-65").await?;
    let old = create_project(&pool, org, "old").await?;
    create_project(&pool, org, "new").await?;
    archive_project(&pool, old).await?;
    assert_eq!(active_projects(&pool, org).await?, ["new"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn adds_a_task_with_its_tags_7(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Stark 66", "stark-66").await?;
    let project = create_project(&pool, org, "suit").await?;
    add_task(&pool, project, "repulsors", &["hardware", "urgent"]).await?;
    add_task(&pool, project, "paint", &["hardware"]).await?;
    assert_eq!(
        tagged(&pool, org, "hardware").await?,
        ["paint", "repulsors"]
    );
    assert_eq!(tagged(&pool, org, "urgent").await?, ["repulsors"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn done_tasks_are_not_open_7(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Wayne 67", "wayne-67").await?;
    let project = create_project(&pool, org, "cave").await?;
    let first = add_task(&pool, project, "lights", &[]).await?;
    add_task(&pool, project, "bats", &[]).await?;
    move_task(&pool, first, "done").await?;
    assert_eq!(open_tasks(&pool, project).await?, 1);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn assigns_tasks_to_members_7(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Cyberdyne 68", "cyberdyne-68").await?;
    let miles = add_user(&pool, org, "miles68@cyberdyne.test", "Miles").await?;
    let project = create_project(&pool, org, "skynet").await?;
    let task = add_task(&pool, project, "chip", &[]).await?;
    assign(&pool, task, miles).await?;
    assert_eq!(assigned_to(&pool, miles).await?, ["chip"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn updates_touch_the_task_7(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Tyrell 69", "tyrell-69").await?;
    let project = create_project(&pool, org, "nexus").await?;
    let task = add_task(&pool, project, "replicant", &[]).await?;
    move_task(&pool, task, "doing").await?;
    assert!(was_updated(&pool, task).await?);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn a_failed_task_leaves_no_tags_7(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Soylent 70", "soylent-70").await?;
    let missing_project = 0;
    let failed = add_task(&pool, missing_project, "green", &["food"]).await;
    assert!(failed.is_err(), "no such project");
    assert!(tagged(&pool, org, "food").await?.is_empty());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn creates_an_organization_8(pool: PgPool) -> sqlx::Result<()> {
    let id = create_organization(&pool, "Acme 71", "acme-71").await?;
    let found = organization_by_slug(&pool, "acme-71").await?;
    assert_eq!(found, Some((id, "Acme 71".to_owned())));
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn refuses_a_duplicate_slug_8(pool: PgPool) -> sqlx::Result<()> {
    create_organization(&pool, "Globex 72", "globex-72").await?;
    let duplicate = create_organization(&pool, "Globex again", "globex-72").await;
    let error = duplicate.expect_err("the slug is taken");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    // The failed insert leaves the rest of the test working.
    assert!(organization_by_slug(&pool, "globex-72").await?.is_some());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn lists_members_by_name_8(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Initech 73", "initech-73").await?;
    add_user(&pool, org, "peter73@initech.test", "Peter").await?;
    add_user(&pool, org, "milton73@initech.test", "Milton").await?;
    assert_eq!(members(&pool, org).await?, ["Milton", "Peter"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn emails_are_unique_whatever_their_case_8(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Hooli 74", "hooli-74").await?;
    add_user(&pool, org, "gavin74@hooli.test", "Gavin").await?;
    let again = add_user(&pool, org, "GAVIN74@hooli.test", "Gavin B.").await;
    assert!(again.is_err(), "emails are unique regardless of case");
    assert_eq!(members(&pool, org).await?, ["Gavin"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn archived_projects_are_not_active_8(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Umbrella 75", "umbrella-75").await?;
    let old = create_project(&pool, org, "old").await?;
    create_project(&pool, org, "new").await?;
    archive_project(&pool, old).await?;
    assert_eq!(active_projects(&pool, org).await?, ["new"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn adds_a_task_with_its_tags_8(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Stark 76", "stark-76").await?;
    let project = create_project(&pool, org, "suit").await?;
    add_task(&pool, project, "repulsors", &["hardware", "urgent"]).await?;
    add_task(&pool, project, "paint", &["hardware"]).await?;
    assert_eq!(
        tagged(&pool, org, "hardware").await?,
        ["paint", "repulsors"]
    );
    assert_eq!(tagged(&pool, org, "urgent").await?, ["repulsors"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn done_tasks_are_not_open_8(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Wayne 77", "wayne-77").await?;
    let project = create_project(&pool, org, "cave").await?;
    let first = add_task(&pool, project, "lights", &[]).await?;
    add_task(&pool, project, "bats", &[]).await?;
    move_task(&pool, first, "done").await?;
    assert_eq!(open_tasks(&pool, project).await?, 1);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn assigns_tasks_to_members_8(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Cyberdyne 78", "cyberdyne-78").await?;
    let miles = add_user(&pool, org, "miles78@cyberdyne.test", "Miles").await?;
    let project = create_project(&pool, org, "skynet").await?;
    let task = add_task(&pool, project, "chip", &[]).await?;
    assign(&pool, task, miles).await?;
    assert_eq!(assigned_to(&pool, miles).await?, ["chip"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn updates_touch_the_task_8(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Tyrell 79", "tyrell-79").await?;
    let project = create_project(&pool, org, "nexus").await?;
    let task = add_task(&pool, project, "replicant", &[]).await?;
    move_task(&pool, task, "doing").await?;
    assert!(was_updated(&pool, task).await?);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn a_failed_task_leaves_no_tags_8(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Soylent 80", "soylent-80").await?;
    let missing_project = 0;
    let failed = add_task(&pool, missing_project, "green", &["food"]).await;
    assert!(failed.is_err(), "no such project");
    assert!(tagged(&pool, org, "food").await?.is_empty());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn creates_an_organization_9(pool: PgPool) -> sqlx::Result<()> {
    let id = create_organization(&pool, "Acme 81", "acme-81").await?;
    let found = organization_by_slug(&pool, "acme-81").await?;
    assert_eq!(found, Some((id, "Acme 81".to_owned())));
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn refuses_a_duplicate_slug_9(pool: PgPool) -> sqlx::Result<()> {
    create_organization(&pool, "Globex 82", "globex-82").await?;
    let duplicate = create_organization(&pool, "Globex again", "globex-82").await;
    let error = duplicate.expect_err("the slug is taken");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    // The failed insert leaves the rest of the test working.
    assert!(organization_by_slug(&pool, "globex-82").await?.is_some());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn lists_members_by_name_9(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Initech 83", "initech-83").await?;
    add_user(&pool, org, "peter83@initech.test", "Peter").await?;
    add_user(&pool, org, "milton83@initech.test", "Milton").await?;
    assert_eq!(members(&pool, org).await?, ["Milton", "Peter"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn emails_are_unique_whatever_their_case_9(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Hooli 84", "hooli-84").await?;
    add_user(&pool, org, "gavin84@hooli.test", "Gavin").await?;
    let again = add_user(&pool, org, "GAVIN84@hooli.test", "Gavin B.").await;
    assert!(again.is_err(), "emails are unique regardless of case");
    assert_eq!(members(&pool, org).await?, ["Gavin"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn archived_projects_are_not_active_9(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Umbrella 85", "umbrella-85").await?;
    let old = create_project(&pool, org, "old").await?;
    create_project(&pool, org, "new").await?;
    archive_project(&pool, old).await?;
    assert_eq!(active_projects(&pool, org).await?, ["new"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn adds_a_task_with_its_tags_9(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Stark 86", "stark-86").await?;
    let project = create_project(&pool, org, "suit").await?;
    add_task(&pool, project, "repulsors", &["hardware", "urgent"]).await?;
    add_task(&pool, project, "paint", &["hardware"]).await?;
    assert_eq!(
        tagged(&pool, org, "hardware").await?,
        ["paint", "repulsors"]
    );
    assert_eq!(tagged(&pool, org, "urgent").await?, ["repulsors"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn done_tasks_are_not_open_9(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Wayne 87", "wayne-87").await?;
    let project = create_project(&pool, org, "cave").await?;
    let first = add_task(&pool, project, "lights", &[]).await?;
    add_task(&pool, project, "bats", &[]).await?;
    move_task(&pool, first, "done").await?;
    assert_eq!(open_tasks(&pool, project).await?, 1);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn assigns_tasks_to_members_9(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Cyberdyne 88", "cyberdyne-88").await?;
    let miles = add_user(&pool, org, "miles88@cyberdyne.test", "Miles").await?;
    let project = create_project(&pool, org, "skynet").await?;
    let task = add_task(&pool, project, "chip", &[]).await?;
    assign(&pool, task, miles).await?;
    assert_eq!(assigned_to(&pool, miles).await?, ["chip"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn updates_touch_the_task_9(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Tyrell 89", "tyrell-89").await?;
    let project = create_project(&pool, org, "nexus").await?;
    let task = add_task(&pool, project, "replicant", &[]).await?;
    move_task(&pool, task, "doing").await?;
    assert!(was_updated(&pool, task).await?);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn a_failed_task_leaves_no_tags_9(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Soylent 90", "soylent-90").await?;
    let missing_project = 0;
    let failed = add_task(&pool, missing_project, "green", &["food"]).await;
    assert!(failed.is_err(), "no such project");
    assert!(tagged(&pool, org, "food").await?.is_empty());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn creates_an_organization_10(pool: PgPool) -> sqlx::Result<()> {
    let id = create_organization(&pool, "Acme 91", "acme-91").await?;
    let found = organization_by_slug(&pool, "acme-91").await?;
    assert_eq!(found, Some((id, "Acme 91".to_owned())));
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn refuses_a_duplicate_slug_10(pool: PgPool) -> sqlx::Result<()> {
    create_organization(&pool, "Globex 92", "globex-92").await?;
    let duplicate = create_organization(&pool, "Globex again", "globex-92").await;
    let error = duplicate.expect_err("the slug is taken");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23505")
    );
    // The failed insert leaves the rest of the test working.
    assert!(organization_by_slug(&pool, "globex-92").await?.is_some());
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn lists_members_by_name_10(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Initech 93", "initech-93").await?;
    add_user(&pool, org, "peter93@initech.test", "Peter").await?;
    add_user(&pool, org, "milton93@initech.test", "Milton").await?;
    assert_eq!(members(&pool, org).await?, ["Milton", "Peter"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn emails_are_unique_whatever_their_case_10(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Hooli 94", "hooli-94").await?;
    add_user(&pool, org, "gavin94@hooli.test", "Gavin").await?;
    let again = add_user(&pool, org, "GAVIN94@hooli.test", "Gavin B.").await;
    assert!(again.is_err(), "emails are unique regardless of case");
    assert_eq!(members(&pool, org).await?, ["Gavin"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn archived_projects_are_not_active_10(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Umbrella 95", "umbrella-95").await?;
    let old = create_project(&pool, org, "old").await?;
    create_project(&pool, org, "new").await?;
    archive_project(&pool, old).await?;
    assert_eq!(active_projects(&pool, org).await?, ["new"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn adds_a_task_with_its_tags_10(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Stark 96", "stark-96").await?;
    let project = create_project(&pool, org, "suit").await?;
    add_task(&pool, project, "repulsors", &["hardware", "urgent"]).await?;
    add_task(&pool, project, "paint", &["hardware"]).await?;
    assert_eq!(
        tagged(&pool, org, "hardware").await?,
        ["paint", "repulsors"]
    );
    assert_eq!(tagged(&pool, org, "urgent").await?, ["repulsors"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn done_tasks_are_not_open_10(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Wayne 97", "wayne-97").await?;
    let project = create_project(&pool, org, "cave").await?;
    let first = add_task(&pool, project, "lights", &[]).await?;
    add_task(&pool, project, "bats", &[]).await?;
    move_task(&pool, first, "done").await?;
    assert_eq!(open_tasks(&pool, project).await?, 1);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn assigns_tasks_to_members_10(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Cyberdyne 98", "cyberdyne-98").await?;
    let miles = add_user(&pool, org, "miles98@cyberdyne.test", "Miles").await?;
    let project = create_project(&pool, org, "skynet").await?;
    let task = add_task(&pool, project, "chip", &[]).await?;
    assign(&pool, task, miles).await?;
    assert_eq!(assigned_to(&pool, miles).await?, ["chip"]);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn updates_touch_the_task_10(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Tyrell 99", "tyrell-99").await?;
    let project = create_project(&pool, org, "nexus").await?;
    let task = add_task(&pool, project, "replicant", &[]).await?;
    move_task(&pool, task, "doing").await?;
    assert!(was_updated(&pool, task).await?);
    Ok(())
}

#[owned_test(migrations = "bench-suites/sandbox/migrations-5")]
async fn a_failed_task_leaves_no_tags_10(pool: PgPool) -> sqlx::Result<()> {
    let org = create_organization(&pool, "Soylent 100", "soylent-100").await?;
    let missing_project = 0;
    let failed = add_task(&pool, missing_project, "green", &["food"]).await;
    assert!(failed.is_err(), "no such project");
    assert!(tagged(&pool, org, "food").await?.is_empty());
    Ok(())
}
