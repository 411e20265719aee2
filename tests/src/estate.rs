//! What the estate benchmarks share (`cmdb-bench-ui`, `cmdb-bench-estate`): the synthetic
//! data centre of `cmdb_graph::synth` as `POST /api/v1/import` takes it (CIs by class and
//! name, relationships between `class/name` references), imported in chunks; JSON calls with
//! a token; CI ids by name; and the time of a request repeated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cmdb_graph::RelKind;
use cmdb_graph::synth::Estate;
use serde::Serialize;
use serde_json::Value;

/// The class a synthetic estate's key stands for.
pub fn class_of(key: &str) -> &'static str {
    match key.split('-').next().unwrap_or("") {
        "core" | "agg" | "tor" => "switch",
        "pdu" => "pdu",
        "pwr" | "cl" => "redundancy_group",
        "san" => "storage_array",
        "hv" => "hypervisor",
        "vm" => "vm",
        "svc" => "service_instance",
        "app" => "application",
        "biz" => "business_service",
        _ => "other",
    }
}

/// A CI of the estate as an import item: its class and name, its quorum (redundancy groups)
/// and whether it is a declared core CI.
#[derive(Debug, Serialize)]
pub struct CiItem<'a> {
    pub class: &'static str,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_up: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub core: bool,
}

/// A reference to a CI in an import: `class/name`.
#[derive(Debug)]
pub struct CiRef<'a> {
    pub class: &'static str,
    pub name: &'a str,
}

impl Serialize for CiRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}/{}", self.class, self.name))
    }
}

/// A relationship of the estate as an import item.
#[derive(Debug, Serialize)]
pub struct RelItem<'a> {
    pub from: CiRef<'a>,
    pub kind: &'static str,
    pub to: CiRef<'a>,
}

/// The estate's CIs as import items, in the estate's order; `class` names each key's class,
/// and keys for which `skip` holds are left out (CIs created otherwise, as agent hosts).
pub fn ci_items<'a>(
    estate: &'a Estate,
    class: &dyn Fn(&str) -> &'static str,
    skip: &dyn Fn(&str) -> bool,
) -> Vec<CiItem<'a>> {
    estate
        .keys
        .iter()
        .zip(&estate.attrs)
        .filter(|(k, _)| !skip(k))
        .map(|(k, attrs)| CiItem {
            class: class(k),
            name: k,
            min_up: attrs.min_up,
            core: attrs.core,
        })
        .collect()
}

/// `links` of the estate as import items (a chunk at a time: a million-CI estate has five
/// million).
pub fn rel_items<'a>(
    estate: &'a Estate,
    links: &[(u32, u32, RelKind)],
    class: &dyn Fn(&str) -> &'static str,
) -> Vec<RelItem<'a>> {
    let at = |id: u32| {
        let name = estate.key(id);
        CiRef {
            class: class(name),
            name,
        }
    };
    links
        .iter()
        .map(|&(from, to, kind)| RelItem {
            from: at(from),
            kind: kind.as_str(),
            to: at(to),
        })
        .collect()
}

/// An import body of one list: `{"cis": [...]}` or `{"relationships": [...]}`.
pub fn import_body<T: Serialize>(section: &str, items: &[T]) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(&BTreeMap::from([(section, items)]))?)
}

/// Figures of an import in chunks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Imported {
    pub items: usize,
    pub requests: usize,
    /// Wall time of the whole import (building the bodies included).
    pub secs: f64,
    /// The slowest request.
    pub slowest: Duration,
    /// Requests answered 429 or 503 and sent again after their `Retry-After`.
    pub retries: usize,
}

impl Imported {
    /// Items per second.
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.secs.max(1e-9)
    }
}

/// POSTs each `(item count, body)` of `bodies` to `/api/v1/import`, `parallel` requests at
/// a time, as an admin's import script does; fails on the first error, or when the server's
/// report does not account for every item of `section`. An answer 429 or 503 is sent again
/// after its `Retry-After`. Every 10 chunks, prints how far it is on stderr.
pub async fn import_chunks(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    section: &'static str,
    total: usize,
    bodies: impl Iterator<Item = anyhow::Result<(usize, Vec<u8>)>>,
    parallel: usize,
) -> anyhow::Result<Imported> {
    let url = Arc::new(format!("{base}/api/v1/import"));
    let token = Arc::new(token.to_string());
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let started = Instant::now();
    let mut done = Imported::default();
    let mut set = tokio::task::JoinSet::new();
    let note = |done: &mut Imported, r: (usize, Duration, usize)| {
        done.items += r.0;
        done.requests += 1;
        done.slowest = done.slowest.max(r.1);
        done.retries += r.2;
        if done.requests.is_multiple_of(10) {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "  {section}: {} of {total} in {secs:.0} s ({:.0}/s), {} requests, slowest {:.1} s",
                done.items,
                done.items as f64 / secs.max(1e-9),
                done.requests,
                done.slowest.as_secs_f64()
            );
        }
    };
    for b in bodies {
        let (n, body) = b?;
        let permit = sem.clone().acquire_owned().await?;
        while let Some(r) = set.try_join_next() {
            note(&mut done, r??);
        }
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        set.spawn(async move {
            let r = post_import(&client, &url, &token, section, n, body).await;
            drop(permit);
            r.map(|(took, retries)| (n, took, retries))
        });
    }
    while let Some(r) = set.join_next().await {
        note(&mut done, r??);
    }
    done.secs = started.elapsed().as_secs_f64();
    Ok(done)
}

/// One import request of `n` items of `section`; its time and how many times it was sent
/// again.
async fn post_import(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    section: &str,
    n: usize,
    body: Vec<u8>,
) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut retries = 0;
    loop {
        let r = client
            .post(url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await?;
        let status = r.status();
        if (status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::SERVICE_UNAVAILABLE)
            && retries < 100
        {
            let wait = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .unwrap_or(1);
            retries += 1;
            tokio::time::sleep(Duration::from_secs(wait.max(1))).await;
            continue;
        }
        let bytes = r.bytes().await?;
        if !status.is_success() {
            bail!(
                "import of {n} {section}: {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        let report: Value = serde_json::from_slice(&bytes).context("import report")?;
        let count = |k: &str| match &report[format!("{section}_{k}")] {
            Value::Array(a) => a.len(),
            v => v.as_u64().unwrap_or(0) as usize,
        };
        let accounted = ["created", "updated", "unchanged", "skipped"]
            .iter()
            .map(|k| count(k))
            .sum::<usize>();
        if accounted != n {
            bail!("import of {n} {section}: the report accounts for {accounted}");
        }
        return Ok((started.elapsed(), retries));
    }
}

/// A JSON request with `token` that must succeed; its answer.
pub async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().await?;
    let status = r.status();
    let bytes = r.bytes().await?;
    if !status.is_success() {
        bail!("{url}: {status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// The id of the CI named exactly `name` (and of `class`).
pub async fn id_of(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    class: &str,
    name: &str,
) -> anyhow::Result<String> {
    let page = call(
        client,
        reqwest::Method::GET,
        &format!("{base}/api/v1/cis?class={class}&q={name}&limit=50"),
        token,
        None,
    )
    .await?;
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == name)
        .and_then(|c| c["key"].as_str())
        .map(str::to_string)
        .with_context(|| format!("no {class} named {name}"))
}

/// Times of a request sent one warm-up time then `runs` times, one after another: from
/// sending it to the last byte of the answer.
#[derive(Debug, Clone)]
pub struct Timing {
    /// The warm-up request (the first after a start: cold caches).
    pub first: Duration,
    pub p50: Duration,
    pub p95: Duration,
    /// The last answer.
    pub body: Vec<u8>,
}

/// Sends the request `request` makes once to warm up, then `runs` times; fails on an answer
/// that is not a success, naming `what`.
pub async fn time_runs(
    what: &str,
    runs: usize,
    mut request: impl FnMut() -> reqwest::RequestBuilder,
) -> anyhow::Result<Timing> {
    let mut times = Vec::with_capacity(runs);
    let mut first = Duration::ZERO;
    let mut body = Vec::new();
    for run in 0..=runs {
        let t = Instant::now();
        let r = request().send().await?;
        let status = r.status();
        let bytes = r.bytes().await?;
        let elapsed = t.elapsed();
        if !status.is_success() {
            bail!("{what}: {status}: {}", String::from_utf8_lossy(&bytes));
        }
        // The first request warms the server's caches up, as any earlier one would have.
        if run == 0 {
            first = elapsed;
        } else {
            times.push(elapsed);
        }
        body = bytes.to_vec();
    }
    times.sort();
    let at = |p: f64| {
        times
            .get(((times.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Ok(Timing {
        first,
        p50: at(0.5),
        p95: at(0.95),
        body,
    })
}
