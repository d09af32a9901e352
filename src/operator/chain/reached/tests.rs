use serde_json::json;

use super::*;
use crate::config::ConfigError;

/// (type, status, reason, message) of each condition, in order.
fn conditions(update: &StatusUpdate) -> Vec<(&'static str, bool, &str, &str)> {
    update.conditions.iter().map(|c| (c.type_.as_str(), c.status, c.reason.as_str(), c.message.as_str())).collect()
}

fn install(deployment: Result<(), String>) -> Install {
    Install {
        namespace: "new".into(),
        objects: 14,
        deployment,
        secret: SecretState::KeyPresent { files: vec!["cosign.key"], generate: false },
    }
}

#[test]
fn a_wrong_name_only_says_so() {
    let s = Reached::WrongName.status(Some("old"));
    let msg = "Only one instance of TektonChain is allowed by name, chain";
    assert_eq!(conditions(&s), [("Ready", false, "InvalidName", msg)]);
    assert_eq!(s.installed_namespace, None);
    assert_eq!(Reached::WrongName.action().unwrap(), Action::await_change());
}

#[test]
fn an_invalid_spec_keeps_the_last_install() {
    let errors = ConfigErrors(vec![ConfigError {
        key: "spec.artifacts.taskrun.format".into(),
        value: Some("foo".into()),
        allowed: r#""in-toto""#.into(),
    }]);
    let msg = errors.to_string();
    let reached = Reached::Invalid(errors);
    let s = reached.status(Some("old"));
    assert_eq!(
        conditions(&s),
        [("ConfigValid", false, "InvalidValue", &*msg), ("Ready", false, "InvalidValue", &*msg)]
    );
    assert_eq!(s.installed_namespace.as_deref(), Some("old"));
    assert_eq!(reached.action().unwrap(), Action::await_change());
}

#[test]
fn disabled_is_ready_with_nothing_installed() {
    let reached = Reached::Disabled { message: "Tekton Chains is not installed".into() };
    let s = reached.status(Some("old"));
    assert_eq!(conditions(&s), [("Ready", true, "Disabled", "Tekton Chains is not installed")]);
    assert_eq!(s.installed_namespace, None);
    assert_eq!(reached.action().unwrap(), Action::await_change());
}

#[test]
fn a_failed_apply_is_reported_and_returned() {
    let not_ours = Reached::ApplyFailed(Error::NotOurs { object: "Deployment ns/x".into() });
    let s = not_ours.status(None);
    let c = conditions(&s);
    assert_eq!(c[0], ("ConfigValid", true, "Valid", ""));
    assert_eq!((c[1].0, c[1].1, c[1].2), ("Installed", false, "NotOwned"));
    assert!(c[1].3.starts_with("Deployment ns/x exists and was not created by this operator"), "{}", c[1].3);
    assert_eq!((c[2].0, c[2].1, c[2].2, c[2].3), ("Ready", false, "NotOwned", c[1].3));
    assert_eq!(s.installed_namespace, None);
    assert!(matches!(not_ours.action(), Err(Error::NotOurs { .. })));

    let other = Reached::ApplyFailed(Error::Decode { object: "o".into(), message: "m".into() });
    let s = other.status(Some("old"));
    assert_eq!(conditions(&s)[1], ("Installed", false, "ApplyFailed", "reading o: m"));
    assert_eq!(conditions(&s)[2], ("Ready", false, "ApplyFailed", "reading o: m"));
    assert_eq!(s.installed_namespace.as_deref(), Some("old"));
}

#[test]
fn an_available_install_is_ready() {
    let reached = Reached::Installed(install(Ok(())));
    let s = reached.status(Some("old"));
    let secret = "Secret new/signing-secrets holds cosign.key; the operator never changes it (also not when generateSigningSecret is false)";
    assert_eq!(
        conditions(&s),
        [
            ("ConfigValid", true, "Valid", ""),
            ("Installed", true, "Applied", "14 objects in new"),
            ("DeploymentAvailable", true, "Available", ""),
            ("SigningSecret", true, "KeyPresent", secret),
            ("Ready", true, "Ready", ""),
        ]
    );
    assert_eq!(s.installed_namespace.as_deref(), Some("new"));
    assert_eq!(reached.action().unwrap(), Action::requeue(RESYNC));
}

#[test]
fn an_unavailable_deployment_is_not_ready() {
    let msg = "Deployment new/tekton-chains-controller has 0/1 available replicas";
    let s = Reached::Installed(install(Err(msg.into()))).status(None);
    let c = conditions(&s);
    assert_eq!(c[2], ("DeploymentAvailable", false, "NotAvailable", msg));
    assert_eq!(c[4], ("Ready", false, "DeploymentNotAvailable", msg));
}

fn deployment(generation: i64, status: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "tekton-chains-controller", "namespace": "ns", "generation": generation },
        "spec": { "replicas": 2 },
        "status": status,
    }))
    .unwrap()
}

#[test]
fn a_deployment_is_available_for_its_current_generation_only() {
    let available = json!([{ "type": "Available", "status": "True" }]);
    assert_eq!(
        deployment_available(&deployment(2, json!({ "observedGeneration": 2, "conditions": available }))),
        Ok(())
    );
    let stale = deployment(3, json!({ "observedGeneration": 2, "conditions": available, "availableReplicas": 1 }));
    assert_eq!(
        deployment_available(&stale),
        Err("Deployment ns/tekton-chains-controller has 1/2 available replicas".into())
    );
    let fresh = deployment(1, json!({}));
    assert_eq!(
        deployment_available(&fresh),
        Err("Deployment ns/tekton-chains-controller has 0/2 available replicas".into())
    );
}
