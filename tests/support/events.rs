//! Events the tests wait for, as "reason: message" lines.

#![allow(dead_code)]

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};

use super::{Env, eventually};

/// Warning Events in `ns` about `name` (any object when `None`), as "reason: message".
pub async fn events(env: &Env, ns: &str, name: Option<&str>) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(env.client.clone(), ns);
    let list = api.list(&ListParams::default()).await.map(|l| l.items).unwrap_or_default();
    list.into_iter()
        .filter(|e| name.is_none_or(|n| e.involved_object.name.as_deref() == Some(n)))
        .map(|e| format!("{}: {}", e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

/// Waits for an Event about `name` with `reason` whose message has every one of `parts`.
pub async fn event_with(env: &Env, ns: &str, name: Option<&str>, reason: &str, parts: &[&str]) -> String {
    eventually(&format!("{reason} Event on {name:?} with {parts:?}"), || async {
        events(env, ns, name)
            .await
            .into_iter()
            .find(|e| e.starts_with(&format!("{reason}: ")) && parts.iter().all(|p| e.contains(p)))
    })
    .await
}
