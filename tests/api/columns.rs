//! Every column of a synced table reaches what is built from the tables: `export`
//! writes each one back under its API name, and the dbt sources describe it
//! (`dbt.rs`). A new column that either misses fails here, whether or not another
//! fixture happens to hold its field.

use ampsync::catalog::{hash_name, Table, BOOKKEEPING};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

const PROJECT: &str = "proj-columns";

/// One installation with every field the tables model set, nested objects included. A
/// new column's field goes here too: the test below names the column if it is missing.
fn installation() -> Value {
    let group = json!({
        "groupRef": "grp-1", "groupName": "Acme", "projectId": PROJECT,
        "createTime": "2024-01-01T00:00:00Z", "updateTime": "2024-01-02T00:00:00Z"
    });
    json!({
        "id": "inst-1",
        "projectId": PROJECT,
        "integrationId": "intg-1",
        "healthStatus": "healthy",
        "lastOperationStatus": "success",
        "createTime": "2024-01-03T00:00:00Z",
        "createdBy": "consumer:cons-1",
        "updateTime": "2024-01-04T00:00:00Z",
        "group": group,
        "connection": {
            "id": "conn-1",
            "projectId": PROJECT,
            "provider": "salesforce",
            "providerApp": {
                "id": "app-1", "projectId": PROJECT, "externalRef": "ext-1",
                "provider": "salesforce", "clientId": "client-1", "scopes": ["api"],
                "metadata": {"providerParams": {"region": "eu"}},
                "createTime": "2024-01-05T00:00:00Z", "updateTime": "2024-01-06T00:00:00Z"
            },
            "group": group,
            "consumer": {
                "consumerRef": "cons-1", "consumerName": "Zoë", "projectId": PROJECT,
                "createTime": "2024-01-07T00:00:00Z", "updateTime": "2024-01-08T00:00:00Z"
            },
            "providerWorkspaceRef": "acme.my.salesforce.com",
            "providerConsumerRef": "https://login.salesforce.com/id/00D/005",
            "createTime": "2024-01-09T00:00:00Z",
            "updateTime": "2024-01-10T00:00:00Z",
            "authScheme": "oauth2/authorizationCode",
            "status": "working",
            "oauth2AuthorizationCode": {
                "accessToken": {"token": "t-1", "issuedAt": "2024-01-11T00:00:00Z", "expiresAt": "2024-01-12T00:00:00Z"},
                "refreshToken": {"token": "r-1", "issuedAt": "2024-01-11T00:00:00Z", "expiresAt": "2025-01-11T00:00:00Z"},
                "scopes": ["api", "refresh_token"]
            },
            "apiKey": "k-1",
            "providerMetadata": {"instanceUrl": {"value": "https://acme.my.salesforce.com", "source": "token"}},
            "catalogVars": {"region": "eu-west-1"},
            "scopes": ["api", "refresh_token", "offline_access"]
        },
        "config": {
            "id": "cfg-1",
            "revisionId": "rev-1",
            "createTime": "2024-01-13T00:00:00Z",
            "createdBy": "builder:b-1",
            "content": {"read": {"objects": {"account": {"schedule": "*/15 * * * *"}}}}
        }
    })
}

/// Where a table's object sits in an exported installation.
fn object_of(table: Table, installation: &Value) -> &Value {
    match table {
        Table::Installations => installation,
        Table::Connections => &installation["connection"],
        Table::Groups => &installation["group"],
        Table::Consumers => &installation["connection"]["consumer"],
        Table::ProviderApps => &installation["connection"]["providerApp"],
        Table::Configs => &installation["config"],
        Table::Projects | Table::Integrations => &Value::Null,
    }
}

/// The columns of a synced table that hold a field of the API object (not bookkeeping,
/// not `extra`, not derived, not what the run supplies), with their API names (dotted
/// within nested objects).
async fn field_columns(app: &TestApp, table: Table) -> Vec<(String, String)> {
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute
         WHERE attrelid = format('ampersand.%I', $1::text)::regclass AND attnum > 0
           AND NOT attisdropped ORDER BY attnum",
    )
    .bind(table.name())
    .fetch_all(&app.pool)
    .await
    .unwrap();
    columns
        .into_iter()
        .filter(|c| !BOOKKEEPING.contains(&c.as_str()))
        .filter_map(|c| {
            let name = hash_name(table.spec(), &c)?;
            (!name.starts_with('@')).then(|| (c.clone(), name.into_owned()))
        })
        .collect()
}

#[tokio::test]
async fn every_column_that_holds_an_api_field_is_exported_under_its_name() {
    // Arrange
    let app = spawn_app().await;
    import(&app, &json!([installation()]), "2026-11-01T00:00:00Z").await;

    // Act
    let (exported, _) = export(&app).await;

    // Assert: each such column is set (else the fixture above lacks the field), and its
    // value is in the export at its name.
    let mut checked = 0;
    for table in Table::ALL {
        let object = object_of(table, &exported[0]);
        if object.is_null() {
            continue;
        }
        for (column, name) in field_columns(&app, table).await {
            let set: bool = sqlx::query_scalar(&format!(
                "SELECT bool_and({column} IS NOT NULL) FROM ampersand.{}",
                table.name()
            ))
            .fetch_one(&app.pool)
            .await
            .unwrap();
            assert!(
                set,
                "{}.{column} is null: give installation() in tests/api/columns.rs its field {name}",
                table.name()
            );
            let value = name.split('.').fold(object, |v, key| &v[key]);
            assert!(
                !value.is_null(),
                "export leaves out {}.{column} (field {name}): {object:#}",
                table.name()
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked}");
}

/// `ampsync import FILE --project PROJECT --observed-at AT` of these installations;
/// returns its output.
async fn import(app: &TestApp, installations: &Value, at: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("installations.json");
    std::fs::write(&file, installations.to_string()).unwrap();
    let args = [
        "import",
        file.to_str().unwrap(),
        "--project",
        PROJECT,
        "--observed-at",
        at,
    ];
    app.ampsync(&args).await.success().stdout()
}

/// Three connections: one with top-level scopes, one that sends them as null, one
/// without them.
fn with_scopes() -> Value {
    let mut list = Vec::new();
    for (n, scopes) in [
        (1, Some(json!(["api", "offline"]))),
        (2, Some(Value::Null)),
        (3, None),
    ] {
        let mut inst = installation();
        inst["id"] = json!(format!("inst-{n}"));
        inst["config"]["id"] = json!(format!("cfg-{n}"));
        let conn = inst["connection"].as_object_mut().unwrap();
        conn.insert("id".into(), json!(format!("conn-{n}")));
        conn.remove("scopes");
        if let Some(scopes) = scopes {
            conn.insert("scopes".into(), scopes);
        }
        list.push(inst);
    }
    Value::Array(list)
}

#[tokio::test]
async fn promoting_connection_scopes_out_of_extra_writes_no_version_and_later_changes_to_it_do() {
    // Arrange: the tables as a release before V11 left them, which kept the field in
    // extra (nulls included) and had no column: the same source objects, so the same
    // hashes. Made from this release's import by moving the field back and undoing V11.
    let app = spawn_app().await;
    let input = with_scopes();
    import(&app, &input, "2026-11-01T00:00:00Z").await;
    for table in ["connections", "connections_history"] {
        sqlx::query(&format!(
            "UPDATE ampersand.{table} SET extra = extra || CASE id
                 WHEN 'conn-1' THEN jsonb_build_object('scopes', scopes)
                 WHEN 'conn-2' THEN '{{\"scopes\": null}}' ELSE '{{}}' END"
        ))
        .execute(&app.pool)
        .await
        .unwrap();
        sqlx::query(&format!("ALTER TABLE ampersand.{table} DROP COLUMN scopes"))
            .execute(&app.pool)
            .await
            .unwrap();
    }
    // V12 (operations) came later too: it runs again, and changes nothing it made.
    sqlx::query("DELETE FROM ampsync_schema_history WHERE version >= 11")
        .execute(&app.pool)
        .await
        .unwrap();
    let stored = "SELECT string_agg(concat_ws(' ', id, content_hash, row_hash, changed_at), ', ' ORDER BY id)
                  FROM ampersand.connections";
    let hashes: String = sqlx::query_scalar(stored)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let (before, _) = export(&app).await;
    assert_eq!(before[1]["connection"]["scopes"], Value::Null);
    assert!(before[1]["connection"].get("scopes").is_some());
    let versions = app
        .count("SELECT count(*) FROM ampersand.connections_history")
        .await;

    // Act: the migration, then the same snapshot again.
    app.ampsync(&["migrate"]).await.success();
    let moved: Vec<(String, Option<Value>, bool)> = sqlx::query_as(
        "SELECT id, scopes, extra ? 'scopes' FROM ampersand.connections ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let out = import(&app, &input, "2026-11-02T00:00:00Z").await;

    // Assert: the field is in its column, in place: no hash, time or version moved.
    assert_eq!(
        moved,
        [
            ("conn-1".to_owned(), Some(json!(["api", "offline"])), false),
            ("conn-2".to_owned(), None, false),
            ("conn-3".to_owned(), None, false),
        ]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.connections_history WHERE extra ? 'scopes'")
            .await,
        0
    );
    assert!(out.contains("no changes"), "{out}");
    let now: String = sqlx::query_scalar(stored)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(now, hashes);
    assert_eq!(
        app.count("SELECT count(*) FROM ampersand.connections_history")
            .await,
        versions
    );
    // The export is the same, but for the explicit null, which is a null column now.
    let (after, _) = export(&app).await;
    let mut expected = before.clone();
    expected[1]["connection"]
        .as_object_mut()
        .unwrap()
        .remove("scopes");
    assert_eq!(after, expected);

    // A real change to the promoted field is a new version, as for any field.
    let mut changed = input.clone();
    changed[0]["connection"]["scopes"] = json!(["api"]);
    let out = import(&app, &changed, "2026-11-03T00:00:00Z").await;
    assert!(out.contains("connections +0 ~1 -0"), "{out}");
    let scopes: Value = sqlx::query_scalar(
        "SELECT scopes FROM ampersand.connections_history
         WHERE id = 'conn-1' AND change = 'update' AND valid_to IS NULL",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(scopes, json!(["api"]));
}

/// `ampsync export --project PROJECT`: the array, and its text.
async fn export(app: &TestApp) -> (Value, String) {
    let out = app
        .ampsync(&["export", "--project", PROJECT])
        .await
        .success()
        .stdout();
    (serde_json::from_str(&out).unwrap(), out)
}
