//! The Kubernetes manifests of deploy/kubernetes/: valid YAML of the kinds
//! they claim, an Indexed Job whose container command the CLI accepts.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde_yaml::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

fn manifest(file: &str) -> Value {
    let text = std::fs::read_to_string(deploy().join(file)).expect("read manifest");
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file} is not valid YAML: {e}"))
}

fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

#[test]
fn every_manifest_is_valid_yaml_of_a_kubernetes_kind() {
    let files: Vec<PathBuf> = std::fs::read_dir(deploy())
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).expect("name");
        let m = manifest(name);
        assert!(m["apiVersion"].is_string(), "{name} has an apiVersion");
        assert!(m["kind"].is_string(), "{name} has a kind");
        assert!(
            at(&m, &["metadata", "name"]).is_string(),
            "{name} has a name"
        );
    }
}

#[test]
fn the_job_is_indexed_and_its_command_is_accepted_by_the_cli() {
    let job = manifest("job.yaml");
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert!(spec["parallelism"].as_u64().is_some_and(|n| n >= 1));
    assert_eq!(spec["parallelism"], spec["completions"]);
    assert!(spec["backoffLimitPerIndex"].as_u64().is_some());
    let container = &at(spec, &["template", "spec", "containers"])[0];
    assert!(at(container, &["resources", "requests", "cpu"]).is_string());
    assert!(at(container, &["resources", "requests", "memory"]).is_string());
    let env = container["env"].as_sequence().expect("env");
    let named = |n: &str| env.iter().find(|e| e["name"].as_str() == Some(n));
    let uri = named("MONGODB_URI").expect("MONGODB_URI");
    assert!(
        at(uri, &["valueFrom", "secretKeyRef", "key"]).is_string(),
        "the URI comes from a Secret"
    );
    assert!(named("JOB_COMPLETION_INDEX").is_some());
    // Kubernetes expands $(VAR) from the container's environment.
    let command: Vec<String> = container["command"]
        .as_sequence()
        .expect("command")
        .iter()
        .map(|w| {
            w.as_str()
                .expect("a word")
                .replace("$(JOB_COMPLETION_INDEX)", "3")
        })
        .collect();
    assert!(command.contains(&"worker-3".to_string()), "{command:?}");
    let cli = mongoshift_cli::Cli::try_parse_from(&command)
        .unwrap_or_else(|e| panic!("the CLI refuses {command:?}: {e}"));
    let parsed = format!("{cli:?}");
    assert!(parsed.contains("distributed: true"), "{parsed}");
    assert!(parsed.contains("worker: Some(\"worker-3\")"), "{parsed}");
    // Metrics on the port the pod names and its annotations point at.
    assert!(
        parsed.contains("metrics_addr: Some(\"0.0.0.0:9464\")"),
        "{parsed}"
    );
    let port = &container["ports"][0];
    assert_eq!(port["name"].as_str(), Some("metrics"));
    assert_eq!(port["containerPort"].as_u64(), Some(9464));
    let annotations = at(spec, &["template", "metadata", "annotations"]);
    assert_eq!(annotations["prometheus.io/port"].as_str(), Some("9464"));
}
