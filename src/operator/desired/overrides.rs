//! `spec.options`: user overrides merged over the installed objects.

use serde_json::Value;

use crate::crd::ChainSpec;

/// `options.configMaps[name]`, unless options are disabled.
pub fn config_map_override(chain: &ChainSpec, name: &str) -> Option<Value> {
    let o = chain.options.as_ref().filter(|o| o.disabled != Some(true))?;
    let found = o.config_maps.as_ref()?.get(name)?;
    Some(Value::Object(found.0.clone()))
}

/// `options.deployments[name]`, unless options are disabled.
pub fn deployment_override(chain: &ChainSpec, name: &str) -> Option<Value> {
    let o = chain.options.as_ref().filter(|o| o.disabled != Some(true))?;
    let found = o.deployments.as_ref()?.get(name)?;
    Some(Value::Object(found.0.clone()))
}

/// Merges `patch` into `target`: objects key by key; lists of named items
/// (containers, env, volumes, ...) item by `name`; anything else is replaced.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(p)) if is_named_list(t) && is_named_list(p) => {
            for item in p {
                let name = &item["name"];
                match t.iter_mut().find(|e| &e["name"] == name) {
                    Some(existing) => merge(existing, item),
                    None => t.push(item.clone()),
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn is_named_list(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|i| i.get("name").is_some_and(Value::is_string))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge;

    #[test]
    fn merges_objects_and_named_lists() {
        let mut t = json!({
            "metadata": { "labels": { "a": "1" } },
            "spec": { "replicas": 1, "template": { "spec": { "containers": [
                { "name": "c", "image": "x", "env": [{ "name": "A", "value": "1" }] }
            ] } } }
        });
        merge(
            &mut t,
            &json!({
                "metadata": { "labels": { "b": "2" } },
                "spec": { "replicas": 3, "template": { "spec": { "containers": [
                    { "name": "c", "env": [{ "name": "A", "value": "9" }, { "name": "B", "value": "2" }],
                      "resources": { "limits": { "memory": "128Mi" } } }
                ] } } }
            }),
        );
        assert_eq!(t["metadata"]["labels"], json!({ "a": "1", "b": "2" }));
        assert_eq!(t["spec"]["replicas"], 3);
        let c = &t["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "x");
        assert_eq!(c["env"], json!([{ "name": "A", "value": "9" }, { "name": "B", "value": "2" }]));
        assert_eq!(c["resources"]["limits"]["memory"], "128Mi");
    }
}
