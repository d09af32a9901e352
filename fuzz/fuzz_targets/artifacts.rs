//! `formats`: a run object (any JSON) as a TaskRun and as a PipelineRun
//! through type-hint detection (`detect`, `build_artifacts`), the image and
//! digest parsers, and every payload builder (`tekton`, in-toto `slsa/v1`,
//! SLSA v1.0 `slsa/v2alpha3` and `slsa/v2alpha4`), with the default config
//! and with deep inspection on. Property: no panic; every statement is a
//! JSON object with `_type` and `predicateType`, and a `subject` array of
//! `{name, digest}` unless it has no subject (then the field is left out, as
//! upstream's protojson does); `tekton` is JSON.
//!
//! Input: JSON. A JSON array is read as `[run, child TaskRun...]`. Every
//! string in it (and each line of the raw input) also goes through
//! `artifacts::digest`, and consecutive pairs through `artifacts::image`.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tekton_chains_operator::config::ChainsConfig;
use tekton_chains_operator::formats::{self, Run, RunKind, artifacts, slsa1, slsa02};

fn statement_ok(bytes: &[u8], what: &str) {
    let v: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
    assert!(v["_type"].is_string() && v["predicateType"].is_string(), "{what}: no _type or predicateType in {v}");
    if let Some(subject) = v.get("subject") {
        let subject = subject.as_array().unwrap_or_else(|| panic!("{what}: subject is no array in {v}"));
        assert!(!subject.is_empty(), "{what}: an empty subject array is left out");
        assert!(subject.iter().all(|s| s["name"].is_string() && s["digest"].is_object()), "{what}: {v}");
    }
}

fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) if out.len() < 64 => out.push(s),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fn parsers(texts: &[&str]) {
    for s in texts {
        let _ = artifacts::digest(s);
    }
    for pair in texts.windows(2) {
        let _ = artifacts::image(pair[0], pair[1]);
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    parsers(&text.lines().take(64).collect::<Vec<_>>());
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let mut texts = Vec::new();
    strings(&value, &mut texts);
    parsers(&texts);

    let (obj, children): (&Value, &[Value]) = match &value {
        Value::Array(items) if !items.is_empty() => (&items[0], &items[1..]),
        v => (v, &[]),
    };
    let deep_map = BTreeMap::from([("artifacts.pipelinerun.enable-deep-inspection".into(), "true".into())]);
    let configs = [ChainsConfig::default(), ChainsConfig::parse(&deep_map).expect("a valid config")];
    for kind in [RunKind::TaskRun, RunKind::PipelineRun] {
        let run = Run::new(kind, obj);
        let found = formats::detect(&run);
        let _ = artifacts::build_artifacts(&run);
        serde_json::from_slice::<Value>(&formats::tekton(&run)).expect("tekton payload is JSON");
        for config in &configs {
            statement_ok(&slsa02::statement(&run, config, &found, children), "slsa/v1");
            for format in ["slsa/v2alpha3", "slsa/v2alpha4"] {
                let typed = tekton_chains_operator::config::Format::parse(format).expect("a format word");
                statement_ok(&slsa1::statement(&run, config, &found, children, typed), format);
            }
        }
    }
});
