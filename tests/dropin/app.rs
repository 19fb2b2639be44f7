//! The app both halves of the drop-in proof test: a small task tracker whose code is
//! typed `&PgPool`, as apps written for `#[sqlx::test]` are. It begins its own
//! transactions (`pool.begin()`), which the sandbox turns into savepoints.

use sqlx::PgPool;

/// An organization's id.
pub type Id = i64;

/// Creates an organization.
pub async fn create_organization(pool: &PgPool, name: &str, slug: &str) -> sqlx::Result<Id> {
    sqlx::query_scalar("INSERT INTO organizations (name, slug) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(slug)
        .fetch_one(pool)
        .await
}

/// The organization of `slug`, if any.
pub async fn organization_by_slug(pool: &PgPool, slug: &str) -> sqlx::Result<Option<(Id, String)>> {
    sqlx::query_as("SELECT id, name FROM organizations WHERE slug = $1")
        .bind(slug)
        .fetch_optional(pool)
        .await
}

/// Adds a user to an organization.
pub async fn add_user(
    pool: &PgPool,
    organization: Id,
    email: &str,
    name: &str,
) -> sqlx::Result<Id> {
    sqlx::query_scalar(
        "INSERT INTO users (organization_id, email, display_name) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(organization)
    .bind(email)
    .bind(name)
    .fetch_one(pool)
    .await
}

/// The users of an organization, by name.
pub async fn members(pool: &PgPool, organization: Id) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT display_name FROM users WHERE organization_id = $1 ORDER BY display_name",
    )
    .bind(organization)
    .fetch_all(pool)
    .await
}

/// Creates a project.
pub async fn create_project(pool: &PgPool, organization: Id, name: &str) -> sqlx::Result<Id> {
    sqlx::query_scalar("INSERT INTO projects (organization_id, name) VALUES ($1, $2) RETURNING id")
        .bind(organization)
        .bind(name)
        .fetch_one(pool)
        .await
}

/// Archives a project.
pub async fn archive_project(pool: &PgPool, project: Id) -> sqlx::Result<()> {
    sqlx::query("UPDATE projects SET archived = true WHERE id = $1")
        .bind(project)
        .execute(pool)
        .await
        .map(drop)
}

/// The organization's projects that are not archived.
pub async fn active_projects(pool: &PgPool, organization: Id) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT name FROM projects WHERE organization_id = $1 AND NOT archived ORDER BY name",
    )
    .bind(organization)
    .fetch_all(pool)
    .await
}

/// Adds a task with its tags, in one transaction of the app's own: the tags are made if
/// the organization doesn't have them yet.
pub async fn add_task(pool: &PgPool, project: Id, title: &str, tags: &[&str]) -> sqlx::Result<Id> {
    let mut transaction = pool.begin().await?;
    let (task, organization): (Id, Id) = sqlx::query_as(
        "INSERT INTO tasks (project_id, title) VALUES ($1, $2) \
         RETURNING id, (SELECT organization_id FROM projects WHERE id = $1)",
    )
    .bind(project)
    .bind(title)
    .fetch_one(&mut *transaction)
    .await?;
    for label in tags {
        let tag: Id = sqlx::query_scalar(
            "INSERT INTO tags (organization_id, label) VALUES ($1, $2) \
             ON CONFLICT (organization_id, label) DO UPDATE SET label = EXCLUDED.label RETURNING id",
        )
        .bind(organization)
        .bind(label)
        .fetch_one(&mut *transaction)
        .await?;
        sqlx::query("INSERT INTO task_tags (task_id, tag_id) VALUES ($1, $2)")
            .bind(task)
            .bind(tag)
            .execute(&mut *transaction)
            .await?;
    }
    transaction.commit().await?;
    Ok(task)
}

/// Assigns a task.
pub async fn assign(pool: &PgPool, task: Id, user: Id) -> sqlx::Result<()> {
    sqlx::query("UPDATE tasks SET assignee_id = $2 WHERE id = $1")
        .bind(task)
        .bind(user)
        .execute(pool)
        .await
        .map(drop)
}

/// Moves a task to `status` (`todo`, `doing`, `done`).
pub async fn move_task(pool: &PgPool, task: Id, status: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE tasks SET status = $2::task_status WHERE id = $1")
        .bind(task)
        .bind(status)
        .execute(pool)
        .await
        .map(drop)
}

/// How many tasks of a project are not done.
pub async fn open_tasks(pool: &PgPool, project: Id) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM tasks WHERE project_id = $1 AND status <> 'done'")
        .bind(project)
        .fetch_one(pool)
        .await
}

/// The titles of the tasks tagged `label` in an organization.
pub async fn tagged(pool: &PgPool, organization: Id, label: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT t.title FROM tasks t JOIN task_tags tt ON tt.task_id = t.id \
         JOIN tags g ON g.id = tt.tag_id WHERE g.organization_id = $1 AND g.label = $2 ORDER BY t.title",
    )
    .bind(organization)
    .bind(label)
    .fetch_all(pool)
    .await
}

/// The tasks assigned to a user.
pub async fn assigned_to(pool: &PgPool, user: Id) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT title FROM tasks WHERE assignee_id = $1 ORDER BY title")
        .bind(user)
        .fetch_all(pool)
        .await
}

/// Whether a task's `updated_at` moved past its `created_at` (the trigger's work).
pub async fn was_updated(pool: &PgPool, task: Id) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT updated_at >= created_at FROM tasks WHERE id = $1")
        .bind(task)
        .fetch_one(pool)
        .await
}
