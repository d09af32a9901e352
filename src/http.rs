//! What the HTTP edges (registries, the transparency log) share.

/// The User-Agent of every request this binary makes.
pub const USER_AGENT: &str = concat!("tekton-chains-operator/", env!("CARGO_PKG_VERSION"));

/// An error with its sources, `a: b: c` (reqwest hides the cause in them).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
