//! The views of `sql/views/`: each file is its view's one current definition, which every
//! `migrate` gives the view, without locking out the people reading it when it has that
//! definition already.

use sqlx::{Connection, PgConnection};

use crate::helpers::spawn_app;

const VIEWS: [&str; 8] = [
    "change_log",
    "installation_overview",
    "config_read_objects",
    "connection_funnel",
    "operation_failures_per_day",
    "unhealthy_installation_last_failure",
    "records_processed_per_day",
    "operations_in_progress",
];

#[tokio::test]
async fn migrate_gives_each_view_its_current_definition_and_comments_back() {
    // Arrange: one view gone, one with another definition (an older release's, say).
    let app = spawn_app().await;
    app.ampsync(&["migrate"]).await.success();
    sqlx::query("DROP VIEW ampersand.connection_funnel")
        .execute(&app.pool)
        .await
        .unwrap();
    let overview = "SELECT pg_get_viewdef('ampersand.installation_overview'::regclass)";
    let live_only: String = sqlx::query_scalar(overview)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let every_row = live_only.replace("WHERE (i.deleted_at IS NULL)", "");
    assert_ne!(every_row, live_only, "{live_only}");
    sqlx::query(&format!(
        "CREATE OR REPLACE VIEW ampersand.installation_overview AS {every_row}"
    ))
    .execute(&app.pool)
    .await
    .unwrap();

    // Act
    app.ampsync(&["migrate"]).await.success();

    // Assert
    let now: String = sqlx::query_scalar(overview)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(now, live_only);
    let described: Vec<(String, Option<String>, i64)> = sqlx::query_as(
        "SELECT c.relname::text, obj_description(c.oid, 'pg_class'),
                count(*) FILTER (WHERE col_description(c.oid, a.attnum) IS NULL)
         FROM pg_class AS c
         JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0
         WHERE c.relnamespace = 'ampersand'::regnamespace AND c.relkind = 'v'
         GROUP BY c.oid, c.relname ORDER BY c.relname",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut names: Vec<&str> = described.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut expected = VIEWS.to_vec();
    names.sort_unstable();
    expected.sort_unstable();
    assert_eq!(names, expected);
    for (view, comment, uncommented) in &described {
        assert!(comment.is_some(), "{view} has no comment");
        assert_eq!(*uncommented, 0, "{view} has columns without a comment");
    }
}

#[tokio::test]
async fn migrating_again_waits_for_no_reader_of_an_unchanged_view() {
    // Arrange: a BI session in the middle of a transaction that read every view; it holds
    // their ACCESS SHARE locks until it ends.
    let app = spawn_app().await;
    app.ampsync(&["migrate"]).await.success();
    let mut reader = PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    for view in VIEWS {
        sqlx::query(&format!("SELECT * FROM ampersand.{view} LIMIT 0"))
            .execute(&mut reader)
            .await
            .unwrap();
    }

    // Act: a lock wait becomes an error instead of a hang.
    let run = app
        .ampsync_env(&["migrate"], &[("PGOPTIONS", "-c lock_timeout=5s")])
        .await;

    // Assert
    run.success();
    sqlx::query("ROLLBACK").execute(&mut reader).await.unwrap();
}
