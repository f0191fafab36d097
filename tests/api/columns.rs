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
            "catalogVars": {"region": "eu-west-1"}
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
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("installations.json");
    std::fs::write(&file, json!([installation()]).to_string()).unwrap();
    app.ampsync(&[
        "import",
        file.to_str().unwrap(),
        "--project",
        PROJECT,
        "--observed-at",
        "2026-11-01T00:00:00Z",
    ])
    .await
    .success();

    // Act
    let out = app
        .ampsync(&["export", "--project", PROJECT])
        .await
        .success()
        .stdout();
    let exported: Value = serde_json::from_str(&out).unwrap();

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
