use super::*;
use serde_json::json;

fn img(repo: &str) -> Image {
    Image { repo: repo.into(), digest: format!("sha256:{}", "ab".repeat(32)) }
}

fn oci(repository: &str, insecure: bool) -> Oci {
    Oci::new(Arc::new(test_shared()), repository, insecure, crate::config::OciEncoding::Dsse)
}

fn test_shared() -> Shared {
    // A client that is never used: no call in these tests reaches it.
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    Shared {
        registries: Registries::new(None, Default::default(), None),
        secrets: Secrets::new(client, Default::default()),
        own: None,
    }
}

#[tokio::test]
async fn tags_go_next_to_the_image_or_to_the_configured_repository() {
    let hex = "ab".repeat(32);
    let t = oci("", true).target(&img("127.0.0.1:5000/team/app"), Tag::Signature);
    assert_eq!(
        t,
        Target {
            registry: "127.0.0.1:5000".into(),
            repository: "team/app".into(),
            tag: format!("sha256-{hex}.sig"),
            insecure: false
        }
    );
    let t = oci("other.example:8443/sigs:ignored", true).target(&img("registry.example/app"), Tag::Attestation);
    assert_eq!(
        t,
        Target {
            registry: "other.example:8443".into(),
            repository: "sigs".into(),
            tag: format!("sha256-{hex}.att"),
            insecure: true
        }
    );
    let t = oci("ubuntu", false).target(&img("registry.example/app"), Tag::Attestation);
    assert_eq!((t.registry.as_str(), t.repository.as_str()), ("index.docker.io", "library/ubuntu"));
}

#[test]
fn the_service_account_comes_from_the_run_spec() {
    let tr = json!({ "spec": { "serviceAccountName": "builder" } });
    assert_eq!(service_account(&Run::new(RunKind::TaskRun, &tr)), "builder");
    let pr = json!({ "spec": { "taskRunTemplate": { "serviceAccountName": "pipeline" } } });
    assert_eq!(service_account(&Run::new(RunKind::PipelineRun, &pr)), "pipeline");
    let none = json!({ "spec": { "serviceAccountName": "" } });
    assert_eq!(service_account(&Run::new(RunKind::TaskRun, &none)), "default");
    assert_eq!(service_account(&Run::new(RunKind::PipelineRun, &tr)), "default");
}

#[test]
fn statement_subjects_that_are_images_get_attestations() {
    let hex = "cd".repeat(32);
    let st = json!({
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [
            { "name": "registry.example/app", "digest": { "sha256": hex } },
            { "name": "registry.example/app", "digest": { "sha256": hex } },
            { "name": "pkg:generic/thing", "digest": { "sha256": hex } },
            { "name": "registry.example/lib", "digest": { "sha512": hex } },
        ]
    });
    let (pt, images) = statement_images(&serde_json::to_vec(&st).unwrap());
    assert_eq!(pt, "https://slsa.dev/provenance/v0.2");
    assert_eq!(images, vec![Image { repo: "registry.example/app".into(), digest: format!("sha256:{hex}") }]);
    assert_eq!(statement_images(b"not json"), (String::new(), vec![]));
}
