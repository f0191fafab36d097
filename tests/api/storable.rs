//! Records PostgreSQL cannot store (a number it overflows or prints as megabytes, a lone
//! UTF-16 surrogate, a time in year 0) are rejected one by one, with a reason naming
//! the record and the field, and the run goes on: no run fails for good on one record.
//! A NUL character, which text and jsonb cannot hold, rejects its record likewise.
//! And text is stored as the API sent it (long, Unicode, emoji, SQL-looking): control
//! characters come back from `export`, and are escaped where ampsync prints them.

use serde_json::{json, Value};

use crate::fixtures::{installations, lone_connection, provider_app, PROJECT_ID};
use crate::helpers::{spawn_app_with, Fault, Route, TestApp};

/// `value` as JSON text, with each `"LONE"` string replaced by one holding a lone
/// surrogate escape (which no Rust string, and so no `Value`, can hold).
fn with_lone_surrogates(value: &Value) -> String {
    value.to_string().replace(r#""LONE""#, r#""cut \ud83d""#)
}

/// A JSON number of `text`, exactly (serde_json keeps it with `arbitrary_precision`).
fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Every rejected record: (source, position, reason, payload), in order.
async fn rejected(app: &TestApp) -> Vec<(String, i64, String, Option<Value>)> {
    sqlx::query_as(
        "SELECT source, position, reason, payload FROM ampersand.rejected_records
         ORDER BY source, position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

fn assert_reason(reason: &str, parts: &[&str]) {
    for part in parts {
        assert!(reason.contains(part), "{part:?} not in {reason:?}");
    }
}

#[tokio::test]
async fn installations_postgres_cannot_store_are_rejected_by_id_and_field_and_the_run_succeeds() {
    // Arrange: a first sync of eight good installations; then the API sends five of them
    // spoiled in the ways that failed every run of 0.3.1.
    let good = installations(0..8);
    let app = spawn_app_with(good.clone()).await;
    app.sync().await;
    let mut spoiled = good.clone();
    spoiled[1]["config"]["content"]["limit"] = number("1e999999");
    spoiled[2]["healthStatus"] = json!("LONE");
    spoiled[3]["createTime"] = json!("0000-01-01T00:00:00Z");
    // 23:00 on the last day of 9999 at UTC-5 is in the year 10000 in UTC.
    spoiled[4]["connection"]["updateTime"] = json!("9999-12-31T23:00:00-05:00");
    // Stored compactly, but printed as 131,072 digits: a record of them cannot be exported.
    spoiled[5]["config"]["content"]["big"] = json!([number("1e131071"), number("1e131071")]);
    app.api.fail(
        Route::Installations,
        Fault::body(200, "application/json", &with_lone_surrogates(&spoiled)),
        1,
    );

    // Act
    let run = app
        .ampsync(&["sync", "--project", PROJECT_ID])
        .await
        .success();

    // Assert: the run succeeded, rejecting exactly those five, each named.
    assert!(
        run.stdout().contains("5 records rejected"),
        "{}",
        run.stdout()
    );
    let rejected = rejected(&app).await;
    let positions: Vec<i64> = rejected.iter().map(|r| r.1).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5], "{rejected:?}");
    assert_reason(
        &rejected[0].2,
        &["id inst-00001", "field `config.content.limit`", "1e+999999"],
    );
    assert_reason(&rejected[1].2, &["id inst-00002", "lone UTF-16 surrogate"]);
    assert_reason(
        &rejected[2].2,
        &["id inst-00003", "field `createTime`", "year 0 "],
    );
    assert_reason(
        &rejected[3].2,
        &[
            "id inst-00004",
            "field `connection.updateTime`",
            "year 10000",
        ],
    );
    assert_reason(
        &rejected[4].2,
        &[
            "id inst-00005",
            "field `config.content.big[0]`",
            "131072 characters",
        ],
    );
    // Each payload is kept, with what Postgres cannot hold written out as text.
    let payload = |i: usize| rejected[i].3.clone().unwrap();
    assert_eq!(payload(0)["config"]["content"]["limit"], "1e+999999");
    assert_eq!(payload(1)["healthStatus"], "cut \u{fffd}");
    assert_eq!(payload(2)["createTime"], "0000-01-01T00:00:00Z");
    assert_eq!(payload(4)["config"]["content"]["big"][1], "1e+131071");
    // Nothing was deleted on a snapshot with rejected records, and nothing changed.
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations WHERE deleted_at IS NULL")
            .await,
        8
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations_history")
            .await,
        8
    );

    // And the next run, with the records mended, rejects nothing: no failure for good.
    let next = app.sync().await;
    assert!(!next.stdout().contains("rejected"), "{}", next.stdout());
}

#[tokio::test]
async fn listed_connections_and_provider_apps_postgres_cannot_store_are_rejected_and_the_rest_stored(
) {
    // Arrange: the lists hold, beside good elements, one of each spoiled kind.
    let app = spawn_app_with(installations(0..4)).await;
    let lone = |n: usize| lone_connection(n, &format!("grp-lone-{n}"));
    let mut spoiled_number = lone(1);
    spoiled_number["providerMetadata"] = json!({"quota": number("-2.5e-70000")});
    let mut spoiled_text = lone(2);
    spoiled_text["status"] = json!("LONE");
    let mut spoiled_time = lone(3);
    spoiled_time["consumer"]["createTime"] = json!("0000-06-01T00:00:00Z");
    let good = lone(4);
    let connections = json!([spoiled_number, spoiled_text, spoiled_time, good]);
    let mut spoiled_app = provider_app("hubspot");
    spoiled_app["createTime"] = json!("0000-01-01T00:00:00Z");
    app.api.fail(
        Route::Connections,
        Fault::body(200, "application/json", &with_lone_surrogates(&connections)),
        1,
    );
    app.api
        .set_provider_apps(json!([provider_app("pipedrive"), spoiled_app]));

    // Act
    let run = app
        .ampsync(&["sync", "--project", PROJECT_ID])
        .await
        .success();

    // Assert
    assert!(
        run.stdout().contains("4 records rejected"),
        "{}",
        run.stdout()
    );
    let rejected = rejected(&app).await;
    let named: Vec<(&str, i64)> = rejected.iter().map(|r| (r.0.as_str(), r.1)).collect();
    assert_eq!(
        named,
        [
            ("connections", 0),
            ("connections", 1),
            ("connections", 2),
            ("provider_apps", 1)
        ]
    );
    assert_reason(
        &rejected[0].2,
        &["id conn-lone-001", "field `providerMetadata.quota`"],
    );
    assert_reason(
        &rejected[1].2,
        &["id conn-lone-002", "lone UTF-16 surrogate"],
    );
    assert_reason(
        &rejected[2].2,
        &["id conn-lone-003", "field `consumer.createTime`", "year 0 "],
    );
    assert_reason(&rejected[3].2, &["id papp-hubspot", "field `createTime`"]);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.connections WHERE id = 'conn-lone-004'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_import_file_of_records_postgres_cannot_store_rejects_them_and_imports_the_rest() {
    // Arrange
    let mut records = installations(0..4);
    records[0]["config"]["content"]["n"] = number("1e131071");
    records[1]["connection"]["consumer"]["consumerName"] = json!("LONE");
    records[2]["updateTime"] = json!("0000-12-31T23:59:59Z");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("installations.json");
    std::fs::write(&file, with_lone_surrogates(&records)).unwrap();
    let app = spawn_app_with(json!([])).await;

    // Act
    let run = app
        .ampsync(&[
            "import",
            &file.display().to_string(),
            "--project",
            PROJECT_ID,
            "--observed-at",
            "2026-11-01T00:00:00Z",
        ])
        .await
        .success();

    // Assert
    assert!(
        run.stdout().contains("3 records rejected"),
        "{}",
        run.stdout()
    );
    let rejected = rejected(&app).await;
    assert_reason(
        &rejected[0].2,
        &["id inst-00000", "field `config.content.n`"],
    );
    assert_reason(&rejected[1].2, &["id inst-00001", "lone UTF-16 surrogate"]);
    assert_reason(&rejected[2].2, &["id inst-00002", "field `updateTime`"]);
    let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM ampersand.installations")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, ["inst-00003"]);
}

/// Text with every kind of control character: tab, CR, LF, ESC sequences, BEL, VT, FF,
/// DEL, and the C1 controls NEL and CSI.
const CONTROLS: &str =
    "Acme\tGmbH\r\nline two \u{1b}[31mred\u{1b}[0m\u{7}\u{b}\u{c}\u{7f}\u{85}\u{9b}2J end";

#[tokio::test]
async fn the_round_trip_gives_back_tabs_newlines_and_other_control_characters_as_sent() {
    // Arrange: control characters in typed fields of every kind of object, and in config
    // content.
    let mut records = installations(0..2);
    for record in records.as_array_mut().unwrap() {
        record["healthStatus"] = json!(format!("health {CONTROLS}"));
        record["group"]["groupName"] = json!(format!("group {CONTROLS}"));
        let connection = &mut record["connection"];
        connection["group"]["groupName"] = json!(format!("group {CONTROLS}"));
        connection["status"] = json!(format!("status {CONTROLS}"));
        connection["consumer"]["consumerName"] = json!(format!("consumer {CONTROLS}"));
        connection["providerApp"]["externalRef"] = json!(format!("ref {CONTROLS}"));
        connection["providerApp"]["scopes"] = json!([["api", format!("scope {CONTROLS}")]]);
        record["config"]["content"]["note"] = json!(format!("note {CONTROLS}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("installations.json");
    std::fs::write(&file, serde_json::to_vec(&records).unwrap()).unwrap();
    let app = spawn_app_with(json!([])).await;
    app.ampsync(&[
        "import",
        &file.display().to_string(),
        "--project",
        PROJECT_ID,
        "--observed-at",
        "2026-11-01T00:00:00Z",
    ])
    .await
    .success();

    // Act
    let export = app
        .ampsync(&["export", "--project", PROJECT_ID])
        .await
        .success();

    // Assert: each field is what was sent, byte for byte.
    let exported: Value = serde_json::from_str(&export.stdout()).unwrap();
    let first = &exported[0];
    assert_eq!(first["healthStatus"], format!("health {CONTROLS}"));
    assert_eq!(first["group"]["groupName"], format!("group {CONTROLS}"));
    let connection = &first["connection"];
    assert_eq!(connection["status"], format!("status {CONTROLS}"));
    assert_eq!(
        connection["consumer"]["consumerName"],
        format!("consumer {CONTROLS}")
    );
    assert_eq!(
        connection["providerApp"]["externalRef"],
        format!("ref {CONTROLS}")
    );
    assert_eq!(
        connection["providerApp"]["scopes"],
        json!(["api", format!("scope {CONTROLS}")])
    );
    assert_eq!(
        first["config"]["content"]["note"],
        format!("note {CONTROLS}")
    );
    // The export is JSON: its control characters are escaped, none is raw.
    assert!(!export.stdout().contains(['\u{1b}', '\r', '\u{7}']));
}

#[tokio::test]
async fn text_with_control_characters_is_printed_escaped_in_logs_reports_and_status() {
    // Arrange: a stored name full of control characters, and a rejected record whose id
    // would forge a log line and clear the terminal.
    let mut records = installations(0..3);
    for i in [0, 1] {
        records[i]["group"]["groupName"] = json!(CONTROLS);
        records[i]["connection"]["group"]["groupName"] = json!(CONTROLS);
    }
    records[1]["id"] = json!("inst-x\nINFO forged\u{1b}[2J");
    records[1]["config"]["content"]["n"] = number("1e999999");
    let app = spawn_app_with(records).await;

    // Act
    // Text logs, as on a terminal (without colours, whose escapes would hide any other).
    let run = app
        .ampsync_env(
            &["sync", "--project", PROJECT_ID, "--log-format", "text"],
            &[("NO_COLOR", "1")],
        )
        .await
        .success();
    let status = app.ampsync(&["status", "--project", PROJECT_ID]).await;

    // Assert: stored as sent...
    let stored: String =
        sqlx::query_scalar("SELECT group_name FROM ampersand.groups WHERE group_ref = 'grp-0'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, CONTROLS);
    // ...printed escaped: the rejected record's id is in the log line, readable and inert.
    assert!(
        run.stderr()
            .contains(r"id inst-x\nINFO forged\u{1b}[2J: field `config.content.n`"),
        "{}",
        run.stderr()
    );
    let reason: String = sqlx::query_scalar("SELECT reason FROM ampersand.rejected_records")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        reason.starts_with(r"id inst-x\nINFO forged\u{1b}[2J: "),
        "{reason}"
    );
    for text in [run.stdout(), run.stderr(), status.stdout(), status.stderr()] {
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\r', '\u{9b}']),
            "{text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("INFO forged")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_export_of_a_row_0_3_1_stored_with_a_huge_number_fails_at_once_naming_the_row() {
    // Arrange: an imported project, one config of which holds `1e131071`, as 0.3.1 stored
    // it (131,072 digits when printed; a record of them ran the export out of memory).
    let app = spawn_app_with(json!([])).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("installations.json");
    std::fs::write(&file, installations(0..4).to_string()).unwrap();
    app.ampsync(&[
        "import",
        &file.display().to_string(),
        "--project",
        PROJECT_ID,
        "--observed-at",
        "2026-11-01T00:00:00Z",
    ])
    .await
    .success();
    sqlx::query(
        r#"UPDATE ampersand.configs SET content = content || '{"big": [1, 1e131071]}'
           WHERE id = 'cfg-00002'"#,
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let output = dir.path().join("export.json");
    std::fs::write(&output, "earlier export").unwrap();

    // Act
    let run = app
        .ampsync(&[
            "export",
            "--project",
            PROJECT_ID,
            "--output",
            &output.display().to_string(),
        ])
        .await;

    // Assert: a failure that names the installation, and the earlier file left as it was.
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(
        run.stderr().contains("installation inst-00002 of project")
            && run.stderr().contains("more than 1,000 digits"),
        "{}",
        run.stderr()
    );
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "earlier export");
}

#[tokio::test]
async fn long_unicode_emoji_and_sql_looking_text_is_stored_exactly() {
    // Arrange
    let long_name: String = "Größe名前🙂 ".repeat(100_000 / "Größe名前🙂 ".len() + 1);
    assert!(long_name.len() >= 100_000);
    let emoji_name = "Zoë 👩🏽‍💻 Ñandú — \u{202e}txet\u{202c} 𝔘𝔫𝔦";
    let sql_name = "Robert'); DROP TABLE ampersand.installations; -- $1 $$ \\ \"";
    let sql_ref = "grp'; DELETE FROM ampersand.groups; --";
    // Every copy of an object carries the same text, so no copy wins over another.
    let mut payload = installations(0..4);
    for inst in payload.as_array_mut().unwrap() {
        if inst["group"]["groupRef"] == "grp-0" {
            inst["group"]["groupName"] = json!(long_name);
        }
        if inst["group"]["groupRef"] == "grp-1" {
            inst["group"]["groupRef"] = json!(sql_ref);
            inst["group"]["groupName"] = json!(sql_name);
        }
        inst["connection"]["group"] = inst["group"].clone();
        if inst["connection"]["consumer"]["consumerRef"] == "user-0" {
            inst["connection"]["consumer"]["consumerName"] = json!(emoji_name);
        }
        if inst["id"] == "inst-00003" {
            inst["notes"] = json!({"text": sql_name, "emoji": emoji_name});
        }
    }
    let app = spawn_app_with(payload).await;

    // Act
    app.sync().await;
    app.sync().await; // and again: nothing reads as changed

    // Assert
    let name = |sql: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        name("SELECT group_name FROM ampersand.groups WHERE group_ref = 'grp-0'").await,
        long_name
    );
    assert_eq!(
        name("SELECT consumer_name FROM ampersand.consumers WHERE consumer_ref = 'user-0'").await,
        emoji_name
    );
    let stored: (String, String) =
        sqlx::query_as("SELECT group_ref, group_name FROM ampersand.groups WHERE group_ref = $1")
            .bind(sql_ref)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, (sql_ref.to_owned(), sql_name.to_owned()));
    let notes: Value = sqlx::query_scalar(
        "SELECT extra->'notes' FROM ampersand.installations WHERE id = 'inst-00003'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(notes, json!({"text": sql_name, "emoji": emoji_name}));
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        4
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.groups_history")
            .await,
        app.count("SELECT count(*) FROM ampersand.groups").await,
        "the second sync found nothing changed"
    );
}

#[tokio::test]
async fn a_record_holding_a_nul_character_is_rejected_instead_of_failing_every_run() {
    // Arrange: PostgreSQL cannot store U+0000 in text or jsonb.
    let mut payload = installations(0..6);
    payload[2]["healthStatus"] = json!("bad\u{0}status");
    payload[4]["notes"] = json!({"x\u{0}": "fine"});
    let app = spawn_app_with(payload).await;

    // Act
    let run = app.sync().await;

    // Assert
    assert!(
        run.stdout().contains("2 records rejected"),
        "{}",
        run.stdout()
    );
    let rejected: Vec<(i64, String, Value)> = sqlx::query_as(
        "SELECT position, reason, payload FROM ampersand.rejected_records ORDER BY position",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!((rejected[0].0, rejected[1].0), (2, 4));
    assert!(rejected[0].1.contains("NUL"), "{}", rejected[0].1);
    assert_eq!(rejected[0].2["healthStatus"], "bad\u{fffd}status");
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.installations")
            .await,
        4
    );
}
