//! What the load generators share: posting prepared bodies as simulated agents, a bounded
//! number at a time, and the latency figures of a phase.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reads `--name N` options from the command line into `opts` (each a name and its
/// default); anything else is an error naming it.
pub fn numeric_args(opts: &mut [(&str, &mut usize)]) -> anyhow::Result<()> {
    numeric_args_from(std::env::args().skip(1), opts)
}

/// [`numeric_args`] of the options `args` (the command line without the program's name).
pub fn numeric_args_from(
    args: impl IntoIterator<Item = String>,
    opts: &mut [(&str, &mut usize)],
) -> anyhow::Result<()> {
    let mut it = args.into_iter();
    while let Some(k) = it.next() {
        let v: usize = it
            .next()
            .ok_or_else(|| anyhow::anyhow!("{k}: missing value"))?
            .parse()
            .map_err(|_| anyhow::anyhow!("{k}: not a number"))?;
        match opts.iter_mut().find(|(name, _)| *name == k) {
            Some((_, slot)) => **slot = v,
            None => anyhow::bail!("unknown option {k}"),
        }
    }
    Ok(())
}

/// Gives the client for each request, by the agent's token: a clone of one client
/// (kept-alive connections), or the agent's own client that keeps no connection (a new TCP
/// connection and TLS session each request, as an agent delivering every few minutes opens).
pub type ClientFor = Arc<dyn Fn(&str) -> anyhow::Result<reqwest::Client> + Send + Sync>;

/// Throughput and latency of one phase.
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    pub count: usize,
    pub secs: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// POSTs every `(bearer token, zstd-compressed JSON body)` of `jobs` to `url`,
/// `concurrency` at a time; fails on the first answer that is not a success.
pub async fn post_all(
    client_for: ClientFor,
    url: &str,
    jobs: Vec<(String, Vec<u8>)>,
    concurrency: usize,
) -> anyhow::Result<Timed> {
    post_spread(client_for, &[url.to_string()], jobs, concurrency).await
}

/// [`post_all`], where a job without a body is a GET.
pub async fn send_all(
    client_for: ClientFor,
    url: &str,
    jobs: Vec<(String, Option<Vec<u8>>)>,
    concurrency: usize,
) -> anyhow::Result<Timed> {
    send_spread(client_for, &[url.to_string()], jobs, concurrency).await
}

/// [`post_all`] across several servers: job `i` goes to `urls[i % urls.len()]`, as agents
/// spread by a load balancer reach several instances.
pub async fn post_spread(
    client_for: ClientFor,
    urls: &[String],
    jobs: Vec<(String, Vec<u8>)>,
    concurrency: usize,
) -> anyhow::Result<Timed> {
    send_spread(
        client_for,
        urls,
        jobs.into_iter().map(|(t, b)| (t, Some(b))).collect(),
        concurrency,
    )
    .await
}

async fn send_spread(
    client_for: ClientFor,
    urls: &[String],
    jobs: Vec<(String, Option<Vec<u8>>)>,
    concurrency: usize,
) -> anyhow::Result<Timed> {
    anyhow::ensure!(!urls.is_empty(), "no server to send to");
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let count = jobs.len();
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (i, (token, body)) in jobs.into_iter().enumerate() {
        let permit = sem.clone().acquire_owned().await?;
        let client = client_for(&token)?;
        let url = urls[i % urls.len()].clone();
        set.spawn(async move {
            let t = Instant::now();
            let req = match body {
                Some(body) => client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("content-encoding", "zstd")
                    .body(body),
                None => client.get(&url),
            };
            let resp = req.bearer_auth(token).send().await;
            drop(permit);
            let elapsed = t.elapsed();
            match resp {
                Ok(r) if r.status().is_success() => Ok(elapsed),
                Ok(r) => {
                    let s = r.status();
                    Err(anyhow::anyhow!(
                        "{s}: {}",
                        r.text().await.unwrap_or_default()
                    ))
                }
                Err(e) => Err(e.into()),
            }
        });
    }
    let mut lat = Vec::with_capacity(count);
    while let Some(r) = set.join_next().await {
        lat.push(r??);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len().max(1) as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Ok(Timed {
        count,
        secs,
        p50: pct(0.5),
        p99: pct(0.99),
    })
}
