//! The dbt project (`sql/dbt`) declares every table and view of schema `ampersand` as a
//! source, with each description equal to its `COMMENT ON` text, so that what an
//! analyst reads in dbt docs is what `\d+` says; and its staging models' contracts are
//! the column types of the migrated schema. (`scripts/dbt-check`, run by CI, runs dbt
//! itself on the sample data: the build with the contracts enforced, the tests,
//! freshness, and a drifted schema that must fail the build.)

use std::collections::BTreeMap;

use serde_norway::Value;

use crate::helpers::{pg_tool, spawn_app};

/// Per relation: its description and its columns' descriptions, in order.
type Described = BTreeMap<String, (String, Vec<(String, String)>)>;

fn declared() -> Described {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/dbt/models/sources.yml");
    let yaml: Value = serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let source = &yaml["sources"][0];
    assert_eq!(source["schema"].as_str(), Some("ampersand"));
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    source["tables"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| {
            let columns = t["columns"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|c| (text(&c["name"]), text(&c["description"])))
                .collect();
            (text(&t["name"]), (text(&t["description"]), columns))
        })
        .collect()
}

#[tokio::test]
async fn the_dbt_sources_are_every_table_and_view_with_their_comments_as_descriptions() {
    // Arrange: a database as `migrate` leaves it.
    let app = spawn_app().await;
    app.ampsync(&["migrate"]).await.success();

    // Act
    let rows: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT c.relname, a.attname, obj_description(c.oid, 'pg_class'), col_description(c.oid, a.attnum)
         FROM pg_class AS c
         JOIN pg_namespace AS n ON n.oid = c.relnamespace
         JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = 'ampersand' AND c.relkind IN ('r', 'v', 'm', 'p')
         ORDER BY c.relname, a.attnum",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut commented = Described::new();
    for (relation, column, description, column_description) in rows {
        let entry = commented
            .entry(relation)
            .or_insert_with(|| (description.unwrap_or_default(), Vec::new()));
        entry
            .1
            .push((column, column_description.unwrap_or_default()));
    }

    // Assert
    let declared = declared();
    assert_eq!(
        declared.keys().collect::<Vec<_>>(),
        commented.keys().collect::<Vec<_>>(),
        "sources.yml lists every table and view; regenerate it with sql/dbt/generate_sources.py"
    );
    for (relation, expected) in &commented {
        assert_eq!(
            &declared[relation], expected,
            "{relation}: regenerate sql/dbt/models/sources.yml with sql/dbt/generate_sources.py"
        );
    }
}

#[tokio::test]
async fn the_staging_models_are_what_generate_staging_writes_from_the_migrated_schema() {
    // Arrange: a database as `migrate` leaves it.
    let app = spawn_app().await;
    app.ampsync(&["migrate"]).await.success();
    let generated = tempfile::tempdir().unwrap();
    let dbt = concat!(env!("CARGO_MANIFEST_DIR"), "/sql/dbt");
    let python = std::env::var("AMPSYNC_TEST_PYTHON")
        .expect("AMPSYNC_TEST_PYTHON names the suite's Python: run the suite with scripts/test");

    // Act
    let out = std::process::Command::new(python)
        .arg(format!("{dbt}/generate_staging.py"))
        .arg(&app.database_url)
        .arg(generated.path())
        .env("PSQL", pg_tool("psql"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("the test Python runs");

    // Assert
    assert!(
        out.status.success(),
        "generate_staging.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = |dir: &std::path::Path| -> BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&path).unwrap())
            })
            .collect()
    };
    let fresh = files(generated.path());
    let committed = files(&std::path::Path::new(dbt).join("models/staging"));
    let regenerate = "regenerate sql/dbt/models/staging with sql/dbt/generate_staging.py";
    assert_eq!(
        committed.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "{regenerate}"
    );
    for (name, text) in &fresh {
        assert_eq!(&committed[name], text, "{name}: {regenerate}");
    }
    // Every model's contract is enforced and types every column; installations' are its
    // real types (the catalog's own names), not whatever the generator wrote.
    for (name, text) in fresh.iter().filter(|(name, _)| name.ends_with(".yml")) {
        let yaml: Value = serde_norway::from_str(text).unwrap();
        let model = &yaml["models"][0];
        assert_eq!(
            model["config"]["contract"]["enforced"].as_bool(),
            Some(true),
            "{name}"
        );
        for column in model["columns"].as_sequence().unwrap() {
            assert!(
                column["data_type"].as_str().is_some_and(|t| !t.is_empty()),
                "{name}: {column:?}"
            );
        }
    }
    let yaml: Value = serde_norway::from_str(&fresh["stg_ampersand__installations.yml"]).unwrap();
    let types: BTreeMap<&str, &str> = yaml["models"][0]["columns"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["data_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(types["installation_id"], "text");
    assert_eq!(types["create_time"], "timestamp with time zone");
    assert_eq!(types["sync_run_id"], "bigint");
    assert!(!types.contains_key("row_hash"), "{types:?}");
}
