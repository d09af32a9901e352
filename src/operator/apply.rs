//! The apply edge: compares desired objects with the live ones and writes
//! only what differs, with server-side apply under one field manager.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions};
use kube::core::ApiResource;
use kube::{Client, ResourceExt};
use serde_json::Value;

use super::desired::{CREATED_BY, DesiredObject, FIELD_MANAGER, Mode, Ownership, merge};
use super::error::{Error, Result, Step};

/// Field manager for defaults written once at creation (users may take them over).
pub const SEED_MANAGER: &str = "tekton-chains-operator-defaults";

/// Writes desired objects and counts every write it makes.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    writes: Arc<AtomicU64>,
}

impl Applier {
    /// An applier that counts its writes in `writes`.
    pub fn new(client: Client, writes: Arc<AtomicU64>) -> Self {
        Self { client, writes }
    }

    /// API writes made so far (creates, patches, deletes).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Counts one write made outside the applier (status, generated key).
    pub(crate) fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// The client the writes go through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn api(&self, resource: &ApiResource, ns: Option<&str>) -> Api<DynamicObject> {
        match ns {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    /// Makes the live object match; returns it as it is afterwards.
    pub async fn ensure(&self, obj: &DesiredObject) -> Result<DynamicObject> {
        let api = self.api(&obj.resource, obj.namespace.as_deref());
        let what = obj.describe();
        let live = api.get_opt(&obj.name).await.map_err(Error::kube(Step::Get, &what))?;
        let (apply, current) = match (&obj.mode, live) {
            (Mode::CreateOnly(_), Some(live)) => return Ok(live),
            (Mode::CreateOnly(body), None) => {
                return self.create(&api, body, FIELD_MANAGER, &what).await;
            }
            (Mode::Apply(apply), live) => (apply, live),
            (Mode::ApplyWithSeed { apply, seed }, None) => {
                // Defaults go in under their own manager, so later applies
                // never remove them; the applied fields stay the operator's
                // alone, so uninstall can take exactly them out again.
                let mut body = serde_json::json!({
                    "apiVersion": apply["apiVersion"], "kind": apply["kind"],
                    "metadata": { "name": obj.name, "namespace": obj.namespace },
                });
                merge(&mut body, seed);
                self.create(&api, &body, SEED_MANAGER, &what).await?;
                (apply, None)
            }
            (Mode::ApplyWithSeed { apply, .. }, live) => (apply, live),
            (Mode::Absent, _) => return Err(Error::Absent { object: what }),
        };
        if let Some(live) = &current
            && obj.ownership == (Ownership::Owned { adopt: false })
            && !is_ours(live)
        {
            return Err(Error::NotOurs { object: what });
        }
        if let Some(live) = current.filter(|live| is_subset(apply, &serde_json::to_value(live).unwrap_or_default())) {
            return Ok(live);
        }
        self.count_write();
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(&obj.name, &params, &Patch::Apply(apply)).await.map_err(Error::kube(Step::Apply, &what))
    }

    async fn create(&self, api: &Api<DynamicObject>, body: &Value, manager: &str, what: &str) -> Result<DynamicObject> {
        let obj: DynamicObject = serde_json::from_value(body.clone()).expect("desired objects are well-formed");
        self.count_write();
        let params = PostParams { field_manager: Some(manager.into()), ..Default::default() };
        match api.create(&params, &obj).await {
            Ok(o) => Ok(o),
            // Someone (a user, cosign) created it meanwhile: theirs wins.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                api.get(&obj.name_any()).await.map_err(Error::kube(Step::Get, what))
            }
            Err(e) => Err(Error::kube(Step::Create, what)(e)),
        }
    }

    /// Takes the operator's fields out of a shared object (the keys the CR
    /// set, labels); keys users set stay. The object is deleted only when
    /// the operator created it and nothing but its own defaults (`seed`
    /// data) is left. Returns true when it was deleted.
    pub async fn release(&self, obj: &DesiredObject, seed: Option<&Value>) -> Result<bool> {
        let api = self.api(&obj.resource, obj.namespace.as_deref());
        let what = obj.describe();
        let Some(live) = api.get_opt(&obj.name).await.map_err(Error::kube(Step::Get, &what))? else {
            return Ok(false);
        };
        let mine = live.managed_fields().iter().any(|m| m.manager.as_deref() == Some(FIELD_MANAGER));
        let live = if mine {
            let empty = serde_json::json!({
                "apiVersion": obj.resource.api_version, "kind": obj.resource.kind,
                "metadata": { "name": obj.name, "namespace": obj.namespace },
            });
            self.count_write();
            let params = PatchParams::apply(FIELD_MANAGER).force();
            api.patch(&obj.name, &params, &Patch::Apply(&empty)).await.map_err(Error::kube(Step::Release, &what))?
        } else {
            live
        };
        let created = live.annotations().get(CREATED_BY).map(String::as_str) == Some(FIELD_MANAGER);
        let defaults = seed.and_then(|s| s.get("data")).and_then(Value::as_object);
        let data = live.data.get("data").and_then(Value::as_object);
        let only_defaults = data.is_none_or(|d| d.iter().all(|(k, v)| defaults.and_then(|s| s.get(k)) == Some(v)));
        if !(created && only_defaults) {
            return Ok(false);
        }
        self.count_write();
        let dp = DeleteParams {
            preconditions: Some(Preconditions { uid: live.uid(), resource_version: live.resource_version() }),
            ..DeleteParams::background()
        };
        match api.delete(&obj.name, &dp).await {
            Ok(_) => Ok(true),
            // Changed meanwhile (a user's edit): it stays.
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(false),
            Err(e) => Err(Error::kube(Step::Delete, &what)(e)),
        }
    }

    /// Deletes the object if it is controlled by `owner_uid`; leaves anything else alone.
    /// Deletes `obj` when it exists and is the operator's (see [`is_ours`]);
    /// true when it was deleted.
    pub async fn remove(&self, obj: &DesiredObject) -> Result<bool> {
        let api = self.api(&obj.resource, obj.namespace.as_deref());
        let what = obj.describe();
        match api.get_opt(&obj.name).await.map_err(Error::kube(Step::Get, &what))? {
            Some(live) if is_ours(&live) && live.owner_references().iter().any(|o| o.kind == "TektonChain") => {
                self.delete_live(&api, &live, &what).await
            }
            _ => Ok(false),
        }
    }

    pub async fn delete_owned(&self, obj: &DesiredObject, owner_uid: &str) -> Result<bool> {
        let api = self.api(&obj.resource, obj.namespace.as_deref());
        let what = obj.describe();
        let Some(live) = api.get_opt(&obj.name).await.map_err(Error::kube(Step::Get, &what))? else {
            return Ok(false);
        };
        if !live.owner_references().iter().any(|o| o.uid == owner_uid) {
            return Ok(false);
        }
        self.delete_live(&api, &live, &what).await
    }

    /// Deletes the object read as `live`, only while it is that object (its uid).
    async fn delete_live(&self, api: &Api<DynamicObject>, live: &DynamicObject, what: &str) -> Result<bool> {
        self.count_write();
        let dp = DeleteParams {
            preconditions: Some(Preconditions { uid: live.uid(), resource_version: None }),
            ..DeleteParams::background()
        };
        match api.delete(&live.name_any(), &dp).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(false),
            Err(e) => Err(Error::kube(Step::Delete, what)(e)),
        }
    }
}

/// True when a live object is the operator's: owned by a TektonChain, or
/// labelled as managed by this operator (an earlier TektonChain's).
pub fn is_ours(live: &DynamicObject) -> bool {
    live.owner_references().iter().any(|o| o.kind == "TektonChain" && o.api_version.starts_with("operator.tekton.dev/"))
        || live.labels().get("app.kubernetes.io/managed-by").map(String::as_str) == Some(FIELD_MANAGER)
}

/// True when every field of `want` is present and equal in `have`: lists must
/// match item by item, numbers by value. Extra live fields (defaults, other
/// managers' keys) are fine.
pub fn is_subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| is_subset(v, hv))),
        (Value::Array(w), Value::Array(h)) => w.len() == h.len() && w.iter().zip(h).all(|(a, b)| is_subset(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::is_subset;

    #[test]
    fn subset_ignores_extra_live_fields() {
        let want = json!({ "metadata": { "labels": { "a": "1" } }, "data": { "k": "v" }, "n": [ { "x": 1 } ] });
        let have = json!({ "metadata": { "labels": { "a": "1", "b": "2" }, "uid": "u" },
                           "data": { "k": "v", "user": "x" }, "n": [ { "x": 1.0, "y": 2 } ] });
        assert!(is_subset(&want, &have));
        assert!(!is_subset(&json!({ "data": { "k": "other" } }), &have));
        assert!(!is_subset(&json!({ "n": [ { "x": 1 }, { "x": 2 } ] }), &have));
        assert!(!is_subset(&json!({ "missing": "" }), &have));
    }
}
