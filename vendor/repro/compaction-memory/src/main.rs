//! Peak memory of SurrealKV while it flushes and compacts: N random 47-byte keys (shaped like
//! SurrealDB's record keys) with 30-byte values, in transactions of 10,000, memtables of
//! MEMTABLE_MIB (64) and a 64 MiB block cache; prints the resident size and its peak (VmHWM)
//! every 5 s and at the end. `cargo run --release -- N` (default 20,000,000).
use rand::Rng;
use std::time::Instant;

fn status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000_000);
    let memtable: usize = std::env::var("MEMTABLE_MIB").ok().and_then(|a| a.parse().ok()).unwrap_or(64);
    let dir = std::env::temp_dir().join(format!("skv-mem-{}", std::process::id()));
    let tree = surrealkv::TreeBuilder::new()
        .with_path(dir.clone())
        .with_max_memtable_size(memtable << 20)
        .with_block_cache_capacity(64 << 20)
        .build()
        .unwrap();
    let mut rng = rand::rng();
    let started = Instant::now();
    let mut last = Instant::now();
    let mut done = 0;
    while done < n {
        let mut txn = tree.begin().unwrap();
        for _ in 0..10_000 {
            let k: [u8; 18] = rng.random();
            let key = format!("/*ns*db*tb\0{}", k.iter().map(|b| format!("{b:02x}")).collect::<String>());
            let v: [u8; 30] = rng.random();
            txn.set(key.as_bytes(), &v[..]).unwrap();
        }
        txn.commit().await.unwrap();
        done += 10_000;
        if last.elapsed().as_secs() >= 5 {
            println!("{:>6.0} s {:>10} keys  rss {:>6} MiB  peak {:>6} MiB", started.elapsed().as_secs_f64(), done, status("VmRSS:") / 1024, status("VmHWM:") / 1024);
            last = Instant::now();
        }
    }
    tree.close().await.unwrap();
    println!("end {:.0} s: {} keys, peak {} MiB", started.elapsed().as_secs_f64(), done, status("VmHWM:") / 1024);
    let _ = std::fs::remove_dir_all(dir);
}
