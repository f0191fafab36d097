//! The deployment files (no Docker engine or Kubernetes cluster runs here). Every
//! deploy/kubernetes/*.yaml is validated against Kubernetes' own schemas, strictly, for
//! the oldest and the newest Kubernetes release the deploy README claims; on top of that,
//! parsing checks that the manifests, docker-compose.yml and the Dockerfile keep ampsync's
//! own promises (Forbid, deadlines, secrets, non-root, lock-down), which no schema knows.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

use crate::helpers::test_python;

/// The oldest and the newest Kubernetes release the manifests are claimed for (deploy
/// README). 1.28's schema still requires `onPodConditions` in every podFailurePolicy
/// rule, which the CronJob's exit-code rule has no use for.
const KUBERNETES: [&str; 2] = ["1.29", "1.37"];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every YAML document of a file, with `<<` merge keys applied.
fn yaml_documents(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let mut value = <Value as serde::Deserialize>::deserialize(doc)
                .unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"));
            value.apply_merge().unwrap();
            value
        })
        .collect()
}

fn yaml(path: &str) -> Value {
    let mut docs = yaml_documents(path);
    assert_eq!(docs.len(), 1, "{path}: one document expected");
    docs.remove(0)
}

/// `value[a][b]...`, panicking with the path when a step is missing.
fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |v, key| {
        let next = match key.parse::<usize>() {
            Ok(i) => v.get(i),
            Err(_) => v.get(*key),
        };
        next.unwrap_or_else(|| panic!("missing {}", path.join(".")))
    })
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The value of an env entry of a container, by name.
fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    at(container, &["env"])
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}

/// Every Kubernetes manifest the repository ships.
fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// `kubernetes-validate --strict` (unknown fields are errors) of `files` against each of
/// [`KUBERNETES`]: whether it passed, and its report, one line per document and version.
fn kubernetes_validate(files: &[PathBuf]) -> (bool, Vec<String>) {
    let mut validate = Command::new(test_python());
    validate.args(["-m", "kubernetes_validate", "--strict"]);
    for version in KUBERNETES {
        validate.args(["--kubernetes-version", version]);
    }
    let out = validate.args(files).output().expect("the test Python runs");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    (
        out.status.success(),
        report.lines().map(str::to_owned).collect(),
    )
}

#[test]
fn every_kubernetes_manifest_is_valid_for_the_oldest_and_newest_kubernetes_claimed() {
    // Arrange
    let files = manifests();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"secrets.example.yaml".to_owned()),
        "{names:?}"
    );
    let documents: usize = names
        .iter()
        .map(|n| yaml_documents(&format!("deploy/kubernetes/{n}")).len())
        .sum();

    // Act
    let (passed, report) = kubernetes_validate(&files);

    // Assert: a kind the schemas do not have is only a WARN, and passes: none may be.
    assert!(passed, "{report:#?}");
    for version in KUBERNETES {
        let valid = report
            .iter()
            .filter(|l| {
                l.starts_with("INFO ")
                    && l.contains(" passed for resource ")
                    && l.ends_with(&format!(" against version {version}"))
            })
            .count();
        assert_eq!(valid, documents, "each document for {version}: {report:#?}");
    }
    assert_eq!(report.len(), documents * KUBERNETES.len(), "{report:#?}");
    let claim = format!("Kubernetes {} to {}", KUBERNETES[0], KUBERNETES[1]);
    assert!(
        read("deploy/kubernetes/README.md").contains(&claim),
        "the deploy README claims {claim}"
    );
}

#[test]
fn a_misspelled_field_fails_the_kubernetes_validation() {
    // Arrange: the CronJob with one field misspelled, deep in its pod template.
    let dir = tempfile::tempdir().unwrap();
    let cronjob = read("deploy/kubernetes/cronjob.yaml");
    assert_eq!(cronjob.matches("restartPolicy:").count(), 1);
    let misspelled = dir.path().join("cronjob.yaml");
    std::fs::write(
        &misspelled,
        cronjob.replace("restartPolicy:", "restartPolcy:"),
    )
    .unwrap();

    // Act
    let (passed, report) = kubernetes_validate(&[misspelled]);

    // Assert
    assert!(!passed, "{report:#?}");
    for version in KUBERNETES {
        assert!(
            report.iter().any(|l| l.starts_with("ERROR ")
                && l.contains(&format!("against version {version}"))
                && l.contains("'restartPolcy' was unexpected")),
            "{version}: {report:#?}"
        );
    }
}

#[test]
fn compose_starts_a_healthy_postgres_before_a_read_only_job_that_imports_the_samples() {
    let compose = yaml("docker-compose.yml");
    let services = at(&compose, &["services"]);

    let postgres = at(services, &["postgres"]);
    let check = strings(at(postgres, &["healthcheck", "test"]));
    assert!(check.join(" ").contains("pg_isready"), "{check:?}");

    let job = at(services, &["ampsync"]);
    assert_eq!(
        at(job, &["depends_on", "postgres", "condition"]).as_str(),
        Some("service_healthy")
    );
    assert_eq!(at(job, &["read_only"]).as_bool(), Some(true));
    assert_eq!(
        strings(at(job, &["tmpfs"])),
        ["/tmp"],
        "temporary files need /tmp"
    );
    assert!(at(job, &["environment", "DATABASE_URL"])
        .as_str()
        .unwrap()
        .contains("@postgres:5432/"));
    let command = strings(at(job, &["command"]));
    assert_eq!(command[0], "import");
    // The files it imports are the samples the Dockerfile copies to /samples.
    for file in command.iter().filter(|a| a.starts_with("/samples/")) {
        let local = file.replacen("/samples/", "samples/", 1);
        assert!(repo(&local).is_file(), "{file} is not in the repository");
    }
    let project: serde_json::Value = serde_json::from_str(&read("samples/project.json")).unwrap();
    let flag = command.iter().position(|a| a == "--project").unwrap();
    assert_eq!(command[flag + 1], project["id"].as_str().unwrap());
    let observed = command.iter().filter(|a| *a == "--observed-at").count();
    let files = command
        .iter()
        .filter(|a| a.contains("/installations-"))
        .count();
    assert_eq!((observed, files), (2, 2));

    // The live variant: opt-in profile, same safety, key passed through from the shell.
    let live = at(services, &["ampsync-live"]);
    assert_eq!(strings(at(live, &["profiles"])), ["live"]);
    assert_eq!(strings(at(live, &["command"])), ["sync"]);
    assert_eq!(at(live, &["read_only"]).as_bool(), Some(true));
    let env = at(live, &["environment"]);
    assert!(env.get("AMPERSAND_API_KEY").is_some_and(Value::is_null));
    assert!(env.get("AMPERSAND_PROJECT").is_some_and(Value::is_null));
}

#[test]
fn the_cronjob_runs_sync_one_at_a_time_with_secrets_limits_and_a_locked_down_pod() {
    let cronjob = yaml("deploy/kubernetes/cronjob.yaml");
    assert_eq!(at(&cronjob, &["kind"]).as_str(), Some("CronJob"));
    let spec = at(&cronjob, &["spec"]);
    assert_eq!(at(spec, &["concurrencyPolicy"]).as_str(), Some("Forbid"));
    let job = at(spec, &["jobTemplate", "spec"]);
    // Two retries, which a busy lock (75) needs; the README says so.
    assert_eq!(at(job, &["backoffLimit"]).as_u64(), Some(2));
    assert!(at(job, &["activeDeadlineSeconds"]).as_u64().unwrap() > 0);
    let pod = at(job, &["template", "spec"]);
    assert_eq!(at(pod, &["restartPolicy"]).as_str(), Some("Never"));
    assert!(
        at(pod, &["terminationGracePeriodSeconds"])
            .as_u64()
            .unwrap()
            > 0
    );
    let container = at(pod, &["containers", "0"]);
    assert_eq!(strings(at(container, &["args"])), ["sync"]);
    assert_locked_down(pod, container);
    assert_secrets(pod, container);
    // Sized (README, Performance): the schema allows none.
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            at(container, &["resources", kind, resource]);
        }
    }
    // A configuration error (exit 2) is not retried.
    let rules = at(job, &["podFailurePolicy", "rules"])
        .as_sequence()
        .unwrap();
    assert!(rules.iter().any(|r| r["action"] == "FailJob"
        && r["onExitCodes"]["values"]
            .as_sequence()
            .is_some_and(|v| v.iter().any(|c| c.as_u64() == Some(2)))));
}

#[test]
fn the_backfill_job_imports_once_with_the_same_image_secrets_and_lock_down() {
    let job = yaml("deploy/kubernetes/backfill-job.yaml");
    let cronjob = yaml("deploy/kubernetes/cronjob.yaml");
    assert_eq!(at(&job, &["kind"]).as_str(), Some("Job"));
    assert_eq!(at(&job, &["spec", "backoffLimit"]).as_u64(), Some(0));
    assert!(
        at(&job, &["spec", "activeDeadlineSeconds"])
            .as_u64()
            .unwrap()
            > 0
    );
    let pod = at(&job, &["spec", "template", "spec"]);
    let container = at(pod, &["containers", "0"]);
    let args = strings(at(container, &["args"]));
    assert_eq!(args[0], "import");
    let files = args
        .iter()
        .filter(|a| a.ends_with(".json") && a.contains("installations"))
        .count();
    let observed = args.iter().filter(|a| *a == "--observed-at").count();
    assert_eq!(files, observed, "one --observed-at per file: {args:?}");
    assert_eq!(
        at(container, &["image"]),
        at(
            &cronjob,
            &[
                "spec",
                "jobTemplate",
                "spec",
                "template",
                "spec",
                "containers",
                "0",
                "image"
            ]
        )
    );
    assert_locked_down(pod, container);
    assert_secrets(pod, container);
}

#[test]
fn the_example_secrets_hold_only_placeholders_for_the_names_the_manifests_use() {
    let docs = yaml_documents("deploy/kubernetes/secrets.example.yaml");
    let names: Vec<&str> = docs
        .iter()
        .map(|d| at(d, &["metadata", "name"]).as_str().unwrap())
        .collect();
    assert_eq!(names, ["ampsync-database", "ampsync-ampersand"]);
    for doc in &docs {
        assert_eq!(at(doc, &["kind"]).as_str(), Some("Secret"));
        for (_, value) in at(doc, &["stringData"]).as_mapping().unwrap() {
            assert!(value.as_str().unwrap().contains("REPLACE-ME"), "{value:?}");
        }
    }
    // The keys the manifests read.
    at(&docs[0], &["stringData", "url"]);
    at(&docs[1], &["stringData", "api-key"]);
}

/// Non-root, read-only root filesystem, no privilege escalation, no capabilities.
fn assert_locked_down(pod: &Value, container: &Value) {
    let pod_security = at(pod, &["securityContext"]);
    assert_eq!(at(pod_security, &["runAsNonRoot"]).as_bool(), Some(true));
    assert_ne!(at(pod_security, &["runAsUser"]).as_u64(), Some(0));
    let security = at(container, &["securityContext"]);
    assert_eq!(at(security, &["runAsNonRoot"]).as_bool(), Some(true));
    assert_ne!(at(security, &["runAsUser"]).as_u64(), Some(0));
    assert_eq!(
        at(security, &["readOnlyRootFilesystem"]).as_bool(),
        Some(true)
    );
    assert_eq!(
        at(security, &["allowPrivilegeEscalation"]).as_bool(),
        Some(false)
    );
    assert_eq!(strings(at(security, &["capabilities", "drop"])), ["ALL"]);
    assert_eq!(
        at(pod, &["automountServiceAccountToken"]).as_bool(),
        Some(false)
    );
    // With the root filesystem read-only, the snapshot's temporary files need /tmp.
    let tmp = at(container, &["volumeMounts"])
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/tmp")
        .expect("a writable /tmp is mounted");
    let volume = at(pod, &["volumes"])
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == tmp["name"])
        .expect("the /tmp volume exists");
    assert!(volume.get("emptyDir").is_some(), "{volume:?}");
}

/// DATABASE_URL from a Secret key; the API key a file of a mounted Secret, named by
/// AMPERSAND_API_KEY_FILE (never an env value).
fn assert_secrets(pod: &Value, container: &Value) {
    let database = env(container, "DATABASE_URL");
    assert!(database.get("value").is_none());
    assert_eq!(
        at(database, &["valueFrom", "secretKeyRef", "name"]).as_str(),
        Some("ampsync-database")
    );
    let containers_env = at(container, &["env"]).as_sequence().unwrap();
    assert!(!containers_env
        .iter()
        .any(|e| e["name"] == "AMPERSAND_API_KEY"));
    let key_file = at(env(container, "AMPERSAND_API_KEY_FILE"), &["value"])
        .as_str()
        .unwrap();
    let (dir, file) = key_file.rsplit_once('/').unwrap();
    let mount = at(container, &["volumeMounts"])
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == dir)
        .unwrap_or_else(|| panic!("nothing mounted at {dir}"));
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    let volume = at(pod, &["volumes"])
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(
        at(volume, &["secret", "secretName"]).as_str(),
        Some("ampsync-ampersand")
    );
    let items = at(volume, &["secret", "items"]).as_sequence().unwrap();
    assert!(items.iter().any(|i| i["path"] == file));
}

#[test]
fn the_dockerfile_builds_in_stages_and_runs_ampsync_as_a_non_root_user_with_its_man_pages() {
    let dockerfile = read("Dockerfile");
    let instructions: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("FROM "))
        .map(|(i, _)| i)
        .collect();
    assert!(stages.len() >= 2, "a multi-stage build");
    assert!(
        instructions[stages[0]].contains(" AS "),
        "a named build stage"
    );
    let runtime = &instructions[*stages.last().unwrap()..];

    let user = runtime
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the final stage sets USER");
    let uid = user.split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "USER {user}: a numeric non-root uid, so runAsNonRoot can check it"
    );
    let entrypoint = runtime
        .iter()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("the final stage sets ENTRYPOINT");
    let entrypoint: Vec<String> = serde_json::from_str(entrypoint).expect("exec form");
    assert!(entrypoint[0].ends_with("/ampsync"), "{entrypoint:?}");
    assert!(runtime
        .iter()
        .any(|l| l.starts_with("COPY --from=") && l.ends_with(&entrypoint[0])));
    // The man pages: written by the binary in the build stage, installed where man looks.
    assert!(instructions
        .iter()
        .any(|l| l.ends_with("/out/ampsync man --dir /out/man")));
    assert!(runtime.contains(&"COPY --from=builder /out/man/ /usr/share/man/man1/"));
    // What it copies exists, and the build context keeps secrets out.
    for dir in ["src", "migrations", "sql", "samples"] {
        assert!(dockerfile.contains(&format!("COPY {dir}/")), "{dir}");
    }
    let ignore = read(".dockerignore");
    for pattern in ["target/", ".env", ".git/"] {
        assert!(ignore.lines().any(|l| l == pattern), "{pattern}");
    }
}

#[test]
fn the_metrics_cronjob_writes_openmetrics_with_the_sync_image_and_pushes_that_file() {
    let metrics = yaml("deploy/kubernetes/metrics-cronjob.yaml");
    let cronjob = yaml("deploy/kubernetes/cronjob.yaml");
    let pod_path = ["spec", "jobTemplate", "spec", "template", "spec"];
    let pod = at(&metrics, &pod_path);
    let writer = at(pod, &["initContainers", "0"]);
    let args = strings(at(writer, &["args"]));
    assert_eq!(args[..3], ["status", "--format", "openmetrics"]);
    let output = &args[args.iter().position(|a| a == "--output").unwrap() + 1];
    assert_eq!(
        at(writer, &["image"]),
        at(
            &cronjob,
            &[&pod_path[..], &["containers", "0", "image"]].concat()
        )
    );
    let push = at(pod, &["containers", "0"]);
    let push_args = strings(at(push, &["args"]));
    assert!(
        push_args.contains(&format!("@{output}")),
        "pushes the file ampsync wrote: {push_args:?}"
    );
    // The file is handed over through a volume both containers mount at its directory.
    let dir = output.rsplit_once('/').unwrap().0;
    for container in [writer, push] {
        assert!(at(container, &["volumeMounts"])
            .as_sequence()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"] == dir));
        let security = at(container, &["securityContext"]);
        assert_eq!(
            at(security, &["readOnlyRootFilesystem"]).as_bool(),
            Some(true)
        );
        assert_eq!(strings(at(security, &["capabilities", "drop"])), ["ALL"]);
    }
    let database = env(writer, "DATABASE_URL");
    assert_eq!(
        at(database, &["valueFrom", "secretKeyRef", "name"]).as_str(),
        Some("ampsync-database")
    );
    assert_eq!(
        at(pod, &["automountServiceAccountToken"]).as_bool(),
        Some(false)
    );
}

#[test]
fn the_prune_cronjob_prunes_weekly_with_the_sync_image_one_at_a_time() {
    let prune = yaml("deploy/kubernetes/prune-cronjob.yaml");
    let cronjob = yaml("deploy/kubernetes/cronjob.yaml");
    assert_eq!(
        at(&prune, &["spec", "concurrencyPolicy"]).as_str(),
        Some("Forbid")
    );
    let container_path = [
        "spec",
        "jobTemplate",
        "spec",
        "template",
        "spec",
        "containers",
        "0",
    ];
    let container = at(&prune, &container_path);
    let args = strings(at(container, &["args"]));
    assert_eq!(args[0], "prune");
    assert!(args.iter().any(|a| a == "--older-than"), "{args:?}");
    assert_eq!(
        at(container, &["image"]),
        at(&cronjob, &[&container_path[..], &["image"]].concat())
    );
    let security = at(container, &["securityContext"]);
    assert_eq!(
        at(security, &["readOnlyRootFilesystem"]).as_bool(),
        Some(true)
    );
}
