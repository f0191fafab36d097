//! The dbt project (`sql/dbt`) declares every table and view of schema `ampersand` as a
//! source, with each description equal to its `COMMENT ON` text, so that what an
//! analyst reads in dbt docs is what `\d+` says. (`scripts/dbt-check`, run by CI, runs
//! dbt's own parse, tests and freshness against the sample data.)

use std::collections::BTreeMap;

use serde_norway::Value;

use crate::helpers::spawn_app;

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
