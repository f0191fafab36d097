//! The SQL for people who query: every file in sql/queries runs on the sample data and
//! returns the columns its header documents; every object of the schema has a comment;
//! sql/roles.sql gives a read-only role and nothing more. And the SQL the job itself runs
//! is loaded from files and bound, never assembled.

use std::path::{Path, PathBuf};

use sqlx::{Connection, PgConnection};

use crate::helpers::{admin_url, database_url, pg_tool, spawn_app, TestApp};

const SAMPLE_PROJECT: &str = "proj-7c1e2a90";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Imports the two sample snapshots (2026-11-01 and 2026-11-08) with the sample project,
/// integrations, connections lists and provider apps, as the README's quick start does.
pub async fn import_samples(app: &TestApp) {
    let file = |name: &str| repo(&format!("samples/{name}")).display().to_string();
    app.ampsync(&[
        "import",
        &file("installations-2026-11-01.json"),
        &file("installations-2026-11-08.json"),
        "--project",
        SAMPLE_PROJECT,
        "--observed-at",
        "2026-11-01T00:00:00Z",
        "--observed-at",
        "2026-11-08T00:00:00Z",
        "--project-file",
        &file("project.json"),
        "--integrations-file",
        &file("integrations.json"),
        "--connections-file",
        &file("connections-2026-11-01.json"),
        "--connections-file",
        &file("connections-2026-11-08.json"),
        "--provider-apps-file",
        &file("provider-apps.json"),
        "--operations-file",
        &file("operations-2026-11-01.json"),
        "--operations-file",
        &file("operations-2026-11-08.json"),
    ])
    .await
    .success();
}

/// `psql -f FILE` against `url` with psql variables, output as CSV.
async fn psql(url: &str, file: &Path, vars: &[(String, String)]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(pg_tool("psql"));
    cmd.args([
        "-X",
        "-q",
        "--csv",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        url,
        "-f",
    ])
    .arg(file);
    for (name, value) in vars {
        cmd.arg("-v").arg(format!("{name}={value}"));
    }
    cmd.output().await.expect("psql runs")
}

/// The column names listed under `-- Columns:` in a query file's header.
fn documented_columns(sql: &str) -> Vec<String> {
    sql.lines()
        .skip_while(|l| l.trim() != "-- Columns:")
        .skip(1)
        .take_while(|l| l.starts_with("--   "))
        .filter_map(|l| l.trim_start_matches("--").split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The `-v name=value` pairs of the header's `-- Example:` command line, if any.
fn example_variables(sql: &str) -> Vec<(String, String)> {
    let Some(example) = sql.lines().find(|l| l.starts_with("-- Example:")) else {
        return Vec::new();
    };
    let words: Vec<&str> = example.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "-v")
        .map(|w| {
            let (name, value) = w[1].split_once('=').expect("-v name=value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn query_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("sql/queries"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn every_query_in_sql_queries_returns_rows_with_its_documented_columns() {
    // Arrange
    let app = spawn_app().await;
    import_samples(&app).await;
    let files = query_files();
    assert!(files.len() >= 5, "{files:?}");

    for file in files {
        let sql = std::fs::read_to_string(&file).unwrap();
        let columns = documented_columns(&sql);
        assert!(
            !columns.is_empty(),
            "{} documents no columns",
            file.display()
        );
        assert!(
            sql.starts_with("-- ") && sql.lines().next().unwrap().len() > 20,
            "{} does not start with a comment saying what it answers",
            file.display()
        );

        // Act: as the header's example runs it (or plainly, with the defaults).
        let out = psql(&app.database_url, &file, &example_variables(&sql)).await;

        // Assert
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = stdout.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        assert_eq!(header, columns, "{}: columns", file.display());
        assert!(
            lines.next().is_some(),
            "{} returned no rows",
            file.display()
        );
    }
}

#[tokio::test]
async fn the_queries_answer_correctly_on_the_sample_data() {
    // Arrange
    let app = spawn_app().await;
    import_samples(&app).await;
    let url = app.database_url.clone();
    let run = async |name: &str, vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let out = psql(&url, &repo(&format!("sql/queries/{name}")), &vars).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    // Act
    let weeks = run("installations_added_removed_per_week.sql", &[]).await;
    let before = run("installations_as_of.sql", &[("at", "2026-11-05T00:00:00Z")]).await;
    let after = run("installations_as_of.sql", &[("at", "2026-11-09T00:00:00Z")]).await;
    let changes = run(
        "config_changes.sql",
        &[("at", "2026-11-10T00:00:00Z"), ("days", "7")],
    )
    .await;
    let attention = run(
        "connections_needing_attention.sql",
        &[("at", "2026-11-08T00:00:00Z")],
    )
    .await;
    let waiting = run(
        "connected_not_installed.sql",
        &[("at", "2026-11-08T00:00:00Z")],
    )
    .await;
    let waited = run(
        "connected_not_installed.sql",
        &[("at", "2026-11-05T00:00:00Z")],
    )
    .await;
    let funnel: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT day::text, provider, sum(connections)::bigint, sum(installed)::bigint,
                sum(connected_not_installed)::bigint
         FROM ampersand.connection_funnel GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();

    // Assert: the figures of samples/README.md and the README's funnel.
    let groups = |csv: &str| -> Vec<String> {
        csv.lines()
            .skip(1)
            .map(|l| l.split(',').nth(4).unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        groups(&waiting),
        ["Initech", "Hooli", "Kuhn Optik KG", "Kuhn Optik KG"]
    );
    assert_eq!(
        groups(&waited),
        ["Initech", "Hooli", "Soylent 🌱", "Kuhn Optik KG"]
    );
    let row = |day: &str, provider: &str, n: i64, installed: i64, not: i64| {
        (day.to_owned(), provider.to_owned(), n, installed, not)
    };
    assert_eq!(
        funnel,
        [
            row("2026-11-01", "gong", 15, 14, 1),
            row("2026-11-01", "hubspot", 13, 12, 1),
            row("2026-11-01", "salesforce", 14, 13, 1),
            row("2026-11-01", "zendesk", 15, 14, 1),
            row("2026-11-08", "gong", 13, 13, 0),
            row("2026-11-08", "hubspot", 13, 12, 1),
            row("2026-11-08", "salesforce", 16, 14, 2),
            row("2026-11-08", "zendesk", 16, 15, 1),
        ]
    );
    assert_eq!(
        weeks.lines().skip(1).collect::<Vec<_>>(),
        [
            "proj-7c1e2a90,2026-10-26,60,0,60,60",
            "proj-7c1e2a90,2026-11-02,4,3,1,61"
        ]
    );
    assert_eq!(before.lines().count() - 1, 60);
    assert_eq!(after.lines().count() - 1, 61);
    let changes: Vec<&str> = changes.lines().skip(1).collect();
    assert_eq!(changes.len(), 4 + 2 + 3, "{changes:?}");
    assert!(changes
        .iter()
        .any(|l| l.contains("Initech") && l.contains("{account}")));
    assert!(changes
        .iter()
        .any(|l| l.contains("Café Zürich GmbH") && l.contains("{contacts}")));
    assert_eq!(
        attention
            .lines()
            .filter(|l| l.contains("bad_credentials"))
            .count(),
        4
    );
}

#[tokio::test]
async fn every_table_view_column_and_function_of_the_schema_has_a_comment() {
    // Arrange
    let app = spawn_app().await;
    app.ampsync(&["migrate"]).await.success();

    // Act
    let relations: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'ampersand' AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
           AND obj_description(c.oid, 'pg_class') IS NULL ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname || '.' || a.attname FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = 'ampersand' AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
           AND col_description(c.oid, a.attnum) IS NULL ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let functions: Vec<String> = sqlx::query_scalar(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'ampersand' AND obj_description(p.oid, 'pg_proc') IS NULL ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let counted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'ampersand' AND c.relkind IN ('r', 'v') AND a.attnum > 0",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();

    // Assert
    assert!(
        counted > 300,
        "the schema has {counted} columns: too few to be real"
    );
    assert_eq!(
        relations,
        Vec::<String>::new(),
        "tables or views without a comment"
    );
    assert_eq!(columns, Vec::<String>::new(), "columns without a comment");
    assert_eq!(
        functions,
        Vec::<String>::new(),
        "functions without a comment"
    );
}

/// object_name, disabled, selected_fields, backfill_days, backfill_full_history
type OddRow = (String, Option<bool>, Vec<String>, Option<i32>, Option<bool>);

#[tokio::test]
async fn config_read_objects_reads_odd_config_shapes_without_failing() {
    // Arrange: configs whose content the API might send in shapes the view does not
    // expect; the view must still answer, with nulls where a value has the wrong type.
    let app = spawn_app().await;
    import_samples(&app).await;
    sqlx::query(
        r#"UPDATE ampersand.configs SET content = CASE id
             WHEN (SELECT min(id) FROM ampersand.configs) THEN
               '{"read": {"objects": {"deal": {"disabled": "yes", "selectedFields": ["a"],
                 "backfill": {"defaultPeriod": {"days": "thirty", "fullHistory": 1}}}}}}'::jsonb
             ELSE '{"read": {"objects": ["not", "an", "object"]}}'::jsonb END
           WHERE id IN (SELECT id FROM ampersand.configs ORDER BY id LIMIT 2)"#,
    )
    .execute(&app.pool)
    .await
    .unwrap();

    // Act
    let odd: Vec<OddRow> = sqlx::query_as(
        "SELECT object_name, disabled, selected_fields, backfill_days, backfill_full_history
         FROM ampersand.config_read_objects WHERE config_id IN (SELECT id FROM ampersand.configs ORDER BY id LIMIT 2)",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let total: i64 = app
        .count("SELECT count(*) FROM ampersand.config_read_objects")
        .await;

    // Assert
    assert_eq!(odd, vec![("deal".to_string(), None, vec![], None, None)]);
    assert!(total > 100, "{total}");
}

/// A login role, connected to the test database, that holds the reader role.
pub(crate) struct Reader {
    reader: String,
    pub(crate) login: String,
    conn: PgConnection,
}

pub(crate) async fn reader_role(app: &TestApp) -> Reader {
    let reader = format!("{}_reader", app.db_name);
    let login = format!("{}_bi", app.db_name);
    let roles = repo("sql/roles.sql");
    for _ in 0..2 {
        let out = psql(
            &app.database_url,
            &roles,
            &[("reader".into(), reader.clone())],
        )
        .await;
        assert!(
            out.status.success(),
            "roles.sql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    sqlx::query(&format!("CREATE ROLE {login} LOGIN IN ROLE {reader}"))
        .execute(&app.pool)
        .await
        .unwrap();
    let conn = PgConnection::connect(&database_url(&login, &app.db_name))
        .await
        .unwrap();
    Reader {
        reader,
        login,
        conn,
    }
}

/// The roles are cluster-wide: remove them and what they were granted.
pub(crate) async fn drop_roles(app: &TestApp, r: Reader) {
    r.conn.close().await.unwrap();
    sqlx::query(&format!("DROP OWNED BY {}, {}", r.reader, r.login))
        .execute(&app.pool)
        .await
        .unwrap();
    let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
    for role in [&r.login, &r.reader] {
        sqlx::query(&format!("DROP ROLE {role}"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

fn permission_denied(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> bool {
    matches!(result, Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501"))
}

#[tokio::test]
async fn the_reader_role_reads_every_table_view_and_function_now_and_later_and_writes_nothing() {
    // Arrange
    let app = spawn_app().await;
    import_samples(&app).await;
    sqlx::query("CREATE TABLE public.elsewhere (x int)")
        .execute(&app.pool)
        .await
        .unwrap();
    let mut r = reader_role(&app).await;

    // Act + Assert: reads.
    let relations: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'ampersand' AND c.relkind IN ('r', 'v') ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(relations.len() >= 20, "{relations:?}");
    for relation in &relations {
        sqlx::query(&format!("SELECT * FROM ampersand.{relation} LIMIT 1"))
            .execute(&mut r.conn)
            .await
            .unwrap_or_else(|e| panic!("the reader cannot read {relation}: {e}"));
    }
    let as_of: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ampersand.installations_as_of('2026-11-05T00:00:00Z')",
    )
    .fetch_one(&mut r.conn)
    .await
    .unwrap();
    assert_eq!(as_of, 60);

    // No writes, through statements or the job's functions.
    for statement in [
        "INSERT INTO ampersand.sync_runs (command, project, observed_at, tool_version) VALUES ('x', 'x', now(), 'x')",
        "UPDATE ampersand.installations SET health_status = 'healthy'",
        "DELETE FROM ampersand.installations_history",
        "TRUNCATE ampersand.rejected_records",
        "CREATE TABLE ampersand.mine (x int)",
        "SELECT ampersand.begin_plan(ARRAY['installations']), ampersand.delete_planned('installations', 1, now())",
        "SELECT * FROM public.elsewhere",
    ] {
        let result = sqlx::query(statement).execute(&mut r.conn).await;
        assert!(
            permission_denied(result),
            "the reader was not refused: {statement}"
        );
    }
    let live: i64 = app
        .count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NULL")
        .await;
    assert_eq!(live, 61);

    // A table and a view a later migration adds (created by the schema's owner, as
    // ampsync migrate does) are readable without running roles.sql again.
    sqlx::query("CREATE TABLE ampersand.added_later (x int)")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("CREATE VIEW ampersand.added_later_view AS SELECT 1 AS x")
        .execute(&app.pool)
        .await
        .unwrap();
    for relation in ["added_later", "added_later_view"] {
        sqlx::query(&format!("SELECT * FROM ampersand.{relation}"))
            .execute(&mut r.conn)
            .await
            .unwrap_or_else(|e| panic!("the reader cannot read {relation}: {e}"));
    }
    assert!(permission_denied(
        sqlx::query("INSERT INTO ampersand.added_later VALUES (1)")
            .execute(&mut r.conn)
            .await
    ));

    drop_roles(&app, r).await;
}

#[test]
fn all_sql_the_job_runs_is_loaded_from_files_and_bound_never_assembled() {
    // Every sqlx query in src/ takes its SQL from include_str! (directly, or through a
    // variable that holds one): none is a literal or a format!-built string, but for a
    // call of a function of sql/functions with every argument bound (`SELECT
    // ampersand.merge_stage($1, $2, $3)`), written where it is made so that each SQL name
    // has one file. (The export's statement, from sql/export/installations.sql, gets its
    // column lists from pg_attribute's names, quoted as identifiers: see src/commands/export.rs.)
    let mut sources = Vec::new();
    let mut stack = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                // One space between tokens, so calls split over lines read as one.
                sources.push((path, text.split_whitespace().collect::<Vec<_>>().join(" ")));
            }
        }
    }
    let mut calls = 0;
    let mut offenders = Vec::new();
    for (path, text) in &sources {
        for (at, _) in text.match_indices("sqlx::query") {
            calls += 1;
            let call = &text[at..];
            // The argument: after the first `(` that follows the (possibly turbofished) name.
            let open = match call.find("::<") {
                Some(t) if t < call.find('(').unwrap_or(usize::MAX) => {
                    call.find(">(").map(|i| i + 1)
                }
                _ => call.find('('),
            };
            let arg = call[open.unwrap() + 1..].trim_start();
            if is_bound_function_call(arg) {
                continue;
            }
            if ["\"", "r#", "&format!", "format!", "concat!"]
                .iter()
                .any(|bad| arg.starts_with(bad))
            {
                offenders.push(format!(
                    "{}: {}",
                    path.display(),
                    &call[..call.len().min(100)]
                ));
            }
        }
        if text.contains("raw_sql(") {
            offenders.push(format!("{}: raw_sql", path.display()));
        }
    }
    assert!(calls > 15, "the scan sees the queries: {calls}");
    assert!(offenders.is_empty(), "{offenders:#?}");
    assert!(is_bound_function_call(
        r#""SELECT ampersand.plan_table($1, $2)")"#
    ));
    assert!(!is_bound_function_call(
        r#""SELECT ampersand.plan_table($1, 'x')")"#
    ));
    assert!(!is_bound_function_call(
        r#""SELECT ampersand.f($1); DROP TABLE t")"#
    ));
}

/// Whether a query's argument is the literal `"SELECT ampersand.NAME($1, $2, ...)"`.
fn is_bound_function_call(arg: &str) -> bool {
    let Some(rest) = arg.strip_prefix("\"SELECT ampersand.") else {
        return false;
    };
    let Some((name, rest)) = rest.split_once('(') else {
        return false;
    };
    let Some((args, _)) = rest.split_once(")\"") else {
        return false;
    };
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        && args
            .split(", ")
            .enumerate()
            .all(|(i, a)| a == format!("${}", i + 1))
}
