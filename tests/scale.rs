//! Scale-out against the real API server: signer replicas (the binary, as
//! real processes) sharing the runs by bucket Leases. TEST_SCALE_RUNS
//! (default 3000) sizes the burst.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{
    Env, SignerProcess, cosign, cosign_keys, eventually, free_port, http_get, namespace_with_config, runs_api,
    signer_replica,
};

const LEASE_SECS: u64 = 4;

fn runs() -> usize {
    std::env::var("TEST_SCALE_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000)
}

/// Bucket count per replica name (the Lease holder's POD_NAME prefix); "" for unheld.
async fn holders(leases: &Api<Lease>) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for b in 0..10 {
        let name = format!("tekton-chains-signer.{b:02}-of-10");
        let holder = match leases.get_opt(&name).await {
            Ok(Some(l)) => l.spec.and_then(|s| s.holder_identity).unwrap_or_default(),
            _ => String::new(),
        };
        let replica = holder.rsplit_once('-').map(|(r, _)| r.to_string()).unwrap_or_default();
        *by.entry(replica).or_default() += 1;
    }
    by
}

/// Runs marked signed by one replica, from its /metrics.
fn signed_by(port: u16) -> u64 {
    http_get(port, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix("watcher_taskrun_marked_signed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn create_finished(api: Api<DynamicObject>, ns: String, names: Vec<String>) {
    for name in names {
        let tr = json!({ "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": { "name": name, "namespace": ns },
                         "spec": { "taskRef": { "name": "t" } } });
        api.create(&PostParams::default(), &serde_json::from_value(tr).unwrap()).await.unwrap();
        let status = json!({ "status": { "conditions": [{ "type": "Succeeded", "status": "True", "reason": "Succeeded" }],
                                         "startTime": "2026-12-07T10:00:00Z", "completionTime": "2026-12-07T10:00:05Z" } });
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_over_ten_buckets_sign_each_run_once_even_when_one_is_killed() {
    let Some(cosign) = cosign() else { panic!("cosign is needed (COSIGN_BIN)") };
    let env = Env::new().await;
    let keys = cosign_keys(&cosign);
    let ns = namespace_with_config(&env, "scale", &[("artifacts.oci.storage", "")]).await;
    let identity = env.signer_identity(&ns).await;
    let api = runs_api(&env, &ns, "TaskRun");
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &ns);
    let n = runs();

    // Every distinct signature each run ever carried.
    let seen: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>> = Arc::default();
    let (w_api, w_seen) = (api.clone(), seen.clone());
    let recorder = tokio::spawn(async move {
        let mut s = kube::runtime::watcher(w_api, Default::default()).boxed();
        while let Some(ev) = s.next().await {
            if let Ok(kube::runtime::watcher::Event::Apply(o) | kube::runtime::watcher::Event::InitApply(o)) = ev {
                let uid = o.metadata.uid.clone().unwrap_or_default();
                for (k, v) in o.metadata.annotations.unwrap_or_default() {
                    if k.starts_with("chains.tekton.dev/signature-") {
                        w_seen.lock().unwrap().entry(uid.clone()).or_default().insert(v);
                    }
                }
            }
        }
    });
    let signed = || seen.lock().unwrap().len();

    let lease = format!("{LEASE_SECS}s");
    let args =
        ["--buckets", "10", "--replicas", "3", "--lease-duration", lease.as_str(), "--threads-per-controller", "4"];
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let start = |i: usize| signer_replica(&ns, &identity, &keys, &format!("replica{i}"), ports[i], &args, &[]);
    let mut replicas: Vec<SignerProcess> = (0..3).map(start).collect();
    let shared = eventually("the ten buckets shared 4/3/3 by the three replicas", || async {
        let by = holders(&leases).await;
        let mut counts: Vec<usize> = by.iter().filter(|(r, _)| !r.is_empty()).map(|(_, c)| *c).collect();
        counts.sort();
        (counts == [3, 3, 4]).then_some(by)
    })
    .await;
    println!("buckets at start: {shared:?}");

    // The burst: six writers, as a busy Pipelines controller.
    let t0 = Instant::now();
    let names: Vec<String> = (0..n).map(|i| format!("run-{i:05}")).collect();
    let writers: Vec<_> = names
        .chunks(n.div_ceil(6))
        .map(|c| tokio::spawn(create_finished(api.clone(), ns.clone(), c.to_vec())))
        .collect();

    // Mid-burst, replica0 dies without a word.
    eventually("a third of the runs signed", || async { (signed() >= n / 3).then_some(()) }).await;
    let by_victim_before = signed_by(ports[0]);
    let victim_buckets = holders(&leases).await.get("replica0").copied().unwrap_or(0);
    replicas[0].kill();
    let killed = Instant::now();
    eventually("replica0's buckets taken over", || async {
        let by = holders(&leases).await;
        (!by.contains_key("replica0") && !by.contains_key("")).then_some(())
    })
    .await;
    let handover = killed.elapsed();
    println!(
        "replica0 killed holding {victim_buckets} buckets after signing {by_victim_before}; handed over in {handover:?}"
    );
    assert!(
        handover < Duration::from_secs(LEASE_SECS * 2),
        "a dead replica's buckets move within the lease duration (+ a retry period): {handover:?}"
    );

    for w in writers {
        w.await.unwrap();
    }
    eventually("every run signed", || async { (signed() == n).then_some(()) }).await;
    println!("{n} runs created and signed in {:?}", t0.elapsed());
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let seen = seen.lock().unwrap();
        let twice: Vec<_> = seen.iter().filter(|(_, s)| s.len() != 1).map(|(u, _)| u).collect();
        assert!(twice.is_empty(), "runs signed more than once: {twice:?}");
    }
    let (b1, b2) = (signed_by(ports[1]), signed_by(ports[2]));
    println!("signed by replica0 (before its death) >= {by_victim_before}, replica1 {b1}, replica2 {b2}");
    assert!(by_victim_before > 0 && b1 > 0 && b2 > 0, "all three shared the work");
    assert!(b1 + b2 + by_victim_before <= n as u64, "no run marked signed twice");

    // A pod stopped (SIGTERM) lets its Leases go: taken at once, not at expiry.
    let status = replicas[1].terminate();
    assert!(status.success(), "a stopped signer exits 0: {status:?}");
    let stopped = Instant::now();
    eventually("replica1's buckets taken by replica2", || async {
        (holders(&leases).await.get("replica2") == Some(&10)).then_some(())
    })
    .await;
    let graceful = stopped.elapsed();
    println!("replica1 stopped: its buckets moved in {graceful:?}");
    assert!(graceful < Duration::from_secs(LEASE_SECS), "released, not expired: {graceful:?}");

    // A new replica asks for its share and gets it.
    replicas.push(start(3));
    let joined = Instant::now();
    eventually("replica2 and replica3 hold five each", || async {
        let by = holders(&leases).await;
        (by.get("replica2") == Some(&5) && by.get("replica3") == Some(&5)).then_some(())
    })
    .await;
    println!("a new replica got its share in {:?}", joined.elapsed());
    recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upstreams_leader_election_configmap_sets_the_buckets_and_a_bad_one_stops_the_start() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let Some(cosign) = cosign() else { panic!("cosign is needed (COSIGN_BIN)") };
    let env = Env::new().await;
    let keys = cosign_keys(&cosign);
    let ns = namespace_with_config(&env, "election", &[("artifacts.oci.storage", "")]).await;
    let identity = env.signer_identity(&ns).await;
    let cms: Api<ConfigMap> = Api::namespaced(env.client.clone(), &ns);
    let cm = |data: serde_json::Value| {
        serde_json::from_value::<ConfigMap>(
            json!({ "metadata": { "name": "tekton-chains-config-leader-election" }, "data": data }),
        )
        .unwrap()
    };
    cms.create(&PostParams::default(), &cm(json!({ "buckets": "11", "lease-duration": "soon" }))).await.unwrap();
    let mut bad = signer_replica(&ns, &identity, &keys, "bad", free_port(), &[], &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        match bad.try_exit() {
            Some(s) => break s,
            None if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(200)).await,
            None => panic!("a bad ConfigMap did not stop the start: {}", bad.output()),
        }
    };
    assert!(!status.success());
    let log = bad.output();
    assert!(log.contains(r#"lease-duration: invalid value "soon"; allowed: a duration of 1s or more"#), "{log}");
    assert!(log.contains(r#"buckets: invalid value "11"; allowed: 1 to 10"#), "{log}");

    // Upstream's keys win over the flags: two buckets, not one.
    let good = json!({ "buckets": "2", "lease-duration": "6s", "renew-deadline": "4s", "retry-period": "2s" });
    cms.replace("tekton-chains-config-leader-election", &PostParams::default(), &cm(good)).await.unwrap();
    let _signer = signer_replica(&ns, &identity, &keys, "good", free_port(), &["--buckets", "1"], &[]);
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &ns);
    for name in ["tekton-chains-signer.00-of-02", "tekton-chains-signer.01-of-02"] {
        let l = eventually("the two bucket Leases", || async { leases.get_opt(name).await.ok().flatten() }).await;
        assert_eq!(l.spec.unwrap().lease_duration_seconds, Some(6));
    }
    let api = runs_api(&env, &ns, "TaskRun");
    create_finished(api.clone(), ns.clone(), vec!["one".into(), "two".into(), "three".into()]).await;
    for name in ["one", "two", "three"] {
        eventually("signed", || async {
            let o = api.get(name).await.ok()?;
            (o.metadata.annotations?.get("chains.tekton.dev/signed")? == "true").then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statefulset_pods_sign_the_bucket_of_their_ordinal_without_leases() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use tekton_chains_operator::signer::buckets::bucket_of;
    let Some(cosign) = cosign() else { panic!("cosign is needed (COSIGN_BIN)") };
    let env = Env::new().await;
    let keys = cosign_keys(&cosign);
    let ns = namespace_with_config(&env, "ordinals", &[("artifacts.oci.storage", "")]).await;
    let identity = env.signer_identity(&ns).await;
    // What the operator writes with statefulset-ordinals and two replicas.
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": { "name": "tekton-chains-config-leader-election" }, "data": { "buckets": "2" } }))
    .unwrap();
    Api::<ConfigMap>::namespaced(env.client.clone(), &ns).create(&PostParams::default(), &cm).await.unwrap();
    let ports = [free_port(), free_port()];
    let _pods: Vec<SignerProcess> = (0..2)
        .map(|i| {
            let pod = format!("tekton-chains-controller-{i}");
            signer_replica(&ns, &identity, &keys, &pod, ports[i], &[], &[("STATEFUL_CONTROLLER_ORDINAL", Some(&pod))])
        })
        .collect();
    let api = runs_api(&env, &ns, "TaskRun");
    let names: Vec<String> = (0..40).map(|i| format!("o-{i:02}")).collect();
    create_finished(api.clone(), ns.clone(), names.clone()).await;
    let mut want = [0u64; 2];
    for name in &names {
        let o = eventually("signed", || async {
            let o = api.get(name).await.ok()?;
            (o.metadata.annotations.as_ref()?.get("chains.tekton.dev/signed")? == "true").then_some(o)
        })
        .await;
        want[bucket_of(o.metadata.uid.as_deref().unwrap(), 2) as usize] += 1;
    }
    let got = eventually("both pods' counters", || async {
        let got = [signed_by(ports[0]), signed_by(ports[1])];
        (got[0] + got[1] == 40).then_some(got)
    })
    .await;
    assert_eq!(got, want, "pod N signed exactly the runs of bucket N");
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &ns);
    assert!(leases.list(&Default::default()).await.unwrap().items.is_empty(), "no Leases in StatefulSet mode");
}
