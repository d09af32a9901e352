//! The in-toto Statement envelope shared by the SLSA formats.

use serde_json::{Value, json};

use super::artifacts::Subject;

/// Top-level fields in in-toto order; an empty subject list is left out.
#[derive(serde::Serialize)]
struct Statement<'a> {
    #[serde(rename = "_type")]
    type_: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subject: Vec<Value>,
    #[serde(rename = "predicateType")]
    predicate_type: &'a str,
    predicate: Value,
}

/// Serializes a statement. Predicate keys come out sorted (serde_json
/// objects are ordered maps), as upstream's protojson output is.
pub fn encode(type_: &str, subjects: &[Subject], predicate_type: &str, predicate: Value) -> Vec<u8> {
    let subject = subjects.iter().map(|s| json!({ "name": s.name, "digest": s.digest })).collect();
    serde_json::to_vec(&Statement { type_, subject, predicate_type, predicate }).expect("statement serializes")
}
