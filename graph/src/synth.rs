//! Synthetic data-centre estates for tests and the benchmark.
//!
//! The model: a core switch pair; pods of an aggregation pair each; racks of a top-of-rack (ToR)
//! pair each, uplinked to both aggregation switches of their pod; hypervisors dual-homed to both
//! ToRs of their rack (`connected_to`), `powered_by` the rack's power group (a redundancy group of
//! its two PDUs) and `depends_on` a storage array; VMs `hosted_on` a hypervisor and `depends_on`
//! its array (their datastore). Service instances `runs_on` VMs and are `member_of` a cluster
//! (a redundancy group with `min_up`), placed at random so a cluster spreads over racks. Clusters
//! come in tiers: shared platform clusters (global ones used by many domains, regional ones by a
//! few), and per application domain a database, a middle and a front tier; every instance
//! `depends_on` the clusters its tier needs (client → database). Applications `depends_on` front,
//! middle and database clusters of their domain; business services `depends_on` applications.
//! Deterministic for given parameters.
//!
//! Test support: compiled for this crate's unit tests, and with the cargo feature `testing` for
//! the benchmark and other crates' tests; production builds leave it out.

use crate::{NodeAttrs, RelKind};

/// A small deterministic PRNG (SplitMix64): reproducible estates and test cases without a
/// dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Shuffles `v` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }

    /// `k` distinct values of `0..n` (all of them when `k >= n`).
    pub fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::with_capacity(k.min(n));
        while out.len() < k.min(n) {
            let x = self.below(n);
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    }
}

/// Shape of a synthetic estate.
#[derive(Debug, Clone)]
pub struct EstateParams {
    /// Aggregation pairs.
    pub pods: usize,
    /// ToR pairs per pod.
    pub racks_per_pod: usize,
    /// Hypervisors per rack.
    pub hypervisors_per_rack: usize,
    /// VMs per hypervisor.
    pub vms_per_hypervisor: usize,
    /// Service instances per VM.
    pub services_per_vm: usize,
    /// Hypervisors served by one storage array.
    pub hypervisors_per_array: usize,
    /// Application domains sharing one global platform cluster, roughly (each domain uses two).
    pub domains_per_global: usize,
    /// Application domains sharing one regional platform cluster, roughly (each domain uses two).
    pub domains_per_regional: usize,
    /// Declare the core switches as core (otherwise the default-core heuristic finds them).
    pub declare_core: bool,
    /// PRNG seed.
    pub seed: u64,
}

impl EstateParams {
    /// A few dozen CIs per tier: small enough for the brute-force reference.
    pub fn small() -> Self {
        EstateParams {
            pods: 2,
            racks_per_pod: 2,
            hypervisors_per_rack: 3,
            vms_per_hypervisor: 3,
            services_per_vm: 3,
            hypervisors_per_array: 4,
            domains_per_global: 1,
            domains_per_regional: 1,
            declare_core: false,
            seed: 7,
        }
    }

    /// The benchmark's shape, scaled to about `cis` CIs (about five relationships per CI).
    pub fn for_cis(cis: usize) -> Self {
        let mut p = EstateParams {
            pods: 1,
            racks_per_pod: 16,
            hypervisors_per_rack: 40,
            vms_per_hypervisor: 12,
            services_per_vm: 3,
            hypervisors_per_array: 80,
            domains_per_global: 250,
            domains_per_regional: 12,
            declare_core: true,
            seed: 1,
        };
        // CIs per rack, measured on the generator: about 2,620.
        let racks = (cis as f64 / 2620.0).round().max(1.0) as usize;
        p.pods = racks.div_ceil(p.racks_per_pod).max(1);
        p.racks_per_pod = racks.div_ceil(p.pods).max(1);
        p
    }
}

/// Tier of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Shared by many domains (authentication, logging...).
    GlobalPlatform,
    /// Shared by a few domains (caches, queues...).
    RegionalPlatform,
    /// Database of a domain.
    Database,
    /// Middle tier of a domain.
    Middle,
    /// Front tier of a domain.
    Front,
}

/// A redundancy group of service instances.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The group CI.
    pub id: u32,
    /// Its tier.
    pub tier: Tier,
    /// Member instances.
    pub instances: Vec<u32>,
}

/// A generated estate; ids index `keys`.
#[derive(Debug, Clone, Default)]
pub struct Estate {
    /// Key of every CI.
    pub keys: Vec<String>,
    /// Attrs of every CI.
    pub attrs: Vec<NodeAttrs>,
    /// Relationships.
    pub links: Vec<(u32, u32, RelKind)>,
    /// The two core switches.
    pub cores: Vec<u32>,
    /// Aggregation pairs.
    pub pods: Vec<[u32; 2]>,
    /// ToR pairs.
    pub racks: Vec<[u32; 2]>,
    /// Hypervisors.
    pub hypervisors: Vec<u32>,
    /// VMs.
    pub vms: Vec<u32>,
    /// Storage arrays.
    pub storage: Vec<u32>,
    /// Clusters of service instances.
    pub clusters: Vec<Cluster>,
    /// Applications.
    pub applications: Vec<u32>,
    /// Business services.
    pub business_services: Vec<u32>,
}

impl Estate {
    /// The key of `id`.
    pub fn key(&self, id: u32) -> &str {
        self.keys.get(id as usize).map_or("", String::as_str)
    }

    /// Keys of `ids`.
    pub fn keys_of(&self, ids: &[u32]) -> Vec<String> {
        ids.iter().map(|&i| self.key(i).to_string()).collect()
    }

    /// Nodes as [`crate::GraphIndex::build`] takes them.
    pub fn nodes(&self) -> Vec<(String, NodeAttrs)> {
        self.keys
            .iter()
            .cloned()
            .zip(self.attrs.iter().cloned())
            .collect()
    }

    /// Relationships as [`crate::GraphIndex::build`] takes them.
    pub fn edges(&self) -> Vec<(String, String, RelKind)> {
        self.links
            .iter()
            .map(|&(a, b, k)| (self.key(a).to_string(), self.key(b).to_string(), k))
            .collect()
    }

    fn node(&mut self, key: String, attrs: NodeAttrs) -> u32 {
        self.keys.push(key);
        self.attrs.push(attrs);
        (self.keys.len() - 1) as u32
    }

    fn plain(&mut self, key: String) -> u32 {
        self.node(key, NodeAttrs::default())
    }

    fn group(&mut self, key: String, min_up: u32) -> u32 {
        self.node(
            key,
            NodeAttrs {
                min_up: Some(min_up),
                ..NodeAttrs::default()
            },
        )
    }

    fn link(&mut self, a: u32, b: u32, kind: RelKind) {
        self.links.push((a, b, kind));
    }
}

/// Instances per cluster and quorum by tier.
fn shape(tier: Tier) -> (usize, u32) {
    match tier {
        Tier::GlobalPlatform => (5, 3),
        Tier::RegionalPlatform => (3, 2),
        Tier::Database => (2, 1),
        Tier::Middle | Tier::Front => (3, 2),
    }
}

/// Clusters per application domain: database, middle, front; and applications per domain.
const DOMAIN: [(Tier, usize); 3] = [(Tier::Database, 6), (Tier::Middle, 8), (Tier::Front, 6)];
const APPS_PER_DOMAIN: usize = 4;
const APPS_PER_BUSINESS_SERVICE: usize = 6;

/// Instance slots on VMs, handed out in order.
struct Slots {
    vms: Vec<u32>,
    next: usize,
    instances: usize,
}

impl Slots {
    fn remaining(&self) -> usize {
        self.vms.len().saturating_sub(self.next)
    }

    /// Creates a cluster of `tier` with its instances; returns its index in `e.clusters`.
    fn cluster(&mut self, e: &mut Estate, tier: Tier) -> usize {
        let (size, min_up) = shape(tier);
        let id = e.group(format!("cl-{}", e.clusters.len()), min_up);
        let mut instances = Vec::with_capacity(size);
        for _ in 0..size {
            let Some(&vm) = self.vms.get(self.next) else {
                break;
            };
            self.next += 1;
            let svc = e.plain(format!("svc-{}", self.instances));
            self.instances += 1;
            e.link(svc, vm, RelKind::RunsOn);
            e.link(svc, id, RelKind::MemberOf);
            instances.push(svc);
        }
        e.clusters.push(Cluster {
            id,
            tier,
            instances,
        });
        e.clusters.len() - 1
    }
}

/// Generates an estate.
pub fn data_centre(p: &EstateParams) -> Estate {
    let mut rng = Rng::new(p.seed);
    let mut e = Estate::default();

    // Network and power.
    let core_attrs = NodeAttrs {
        core: p.declare_core,
        ..NodeAttrs::default()
    };
    let c1 = e.node("core-1".into(), core_attrs.clone());
    let c2 = e.node("core-2".into(), core_attrs);
    e.cores = vec![c1, c2];
    e.link(c1, c2, RelKind::ConnectedTo);
    let net_power = e.group("pwr-net".into(), 1);
    for side in ["a", "b"] {
        let pdu = e.plain(format!("pdu-net-{side}"));
        e.link(pdu, net_power, RelKind::MemberOf);
    }
    e.link(c1, net_power, RelKind::PoweredBy);
    e.link(c2, net_power, RelKind::PoweredBy);
    let n_hv = p.pods * p.racks_per_pod * p.hypervisors_per_rack;
    let n_arrays = n_hv.div_ceil(p.hypervisors_per_array.max(1)).max(1);
    for i in 0..n_arrays {
        let a = e.plain(format!("san-{i}"));
        e.link(a, net_power, RelKind::PoweredBy);
        e.storage.push(a);
    }
    let mut hv_array = Vec::with_capacity(n_hv);
    for pod in 0..p.pods {
        let aggs = [
            e.plain(format!("agg-{pod}-a")),
            e.plain(format!("agg-{pod}-b")),
        ];
        for &agg in &aggs {
            e.link(agg, c1, RelKind::ConnectedTo);
            e.link(agg, c2, RelKind::ConnectedTo);
            e.link(agg, net_power, RelKind::PoweredBy);
        }
        e.link(aggs[0], aggs[1], RelKind::ConnectedTo);
        e.pods.push(aggs);
        for r in 0..p.racks_per_pod {
            let rack = pod * p.racks_per_pod + r;
            let power = e.group(format!("pwr-{rack}"), 1);
            for side in ["a", "b"] {
                let pdu = e.plain(format!("pdu-{rack}-{side}"));
                e.link(pdu, power, RelKind::MemberOf);
            }
            let tors = [
                e.plain(format!("tor-{rack}-a")),
                e.plain(format!("tor-{rack}-b")),
            ];
            for &tor in &tors {
                e.link(tor, aggs[0], RelKind::ConnectedTo);
                e.link(tor, aggs[1], RelKind::ConnectedTo);
                e.link(tor, power, RelKind::PoweredBy);
            }
            e.link(tors[0], tors[1], RelKind::ConnectedTo);
            e.racks.push(tors);
            for h in 0..p.hypervisors_per_rack {
                let hv = e.plain(format!("hv-{rack}-{h}"));
                let array = e.storage[e.hypervisors.len() / p.hypervisors_per_array.max(1)];
                e.link(hv, tors[0], RelKind::ConnectedTo);
                e.link(hv, tors[1], RelKind::ConnectedTo);
                e.link(hv, power, RelKind::PoweredBy);
                e.link(hv, array, RelKind::DependsOn);
                e.hypervisors.push(hv);
                hv_array.push(array);
            }
        }
    }
    // VMs.
    for (i, &hv) in e.hypervisors.clone().iter().enumerate() {
        for _ in 0..p.vms_per_hypervisor {
            let vm = e.plain(format!("vm-{}", e.vms.len()));
            e.link(vm, hv, RelKind::HostedOn);
            e.link(vm, hv_array[i], RelKind::DependsOn);
            e.vms.push(vm);
        }
    }

    // Instance slots on VMs, shuffled so clusters spread over racks.
    let mut slots: Vec<u32> = e
        .vms
        .iter()
        .flat_map(|&vm| std::iter::repeat_n(vm, p.services_per_vm))
        .collect();
    rng.shuffle(&mut slots);
    let per_domain: usize = DOMAIN.iter().map(|&(t, n)| n * shape(t).0).sum();
    let domains_est = (slots.len() / per_domain).max(1);
    let n_global = (domains_est / p.domains_per_global.max(1)).max(2);
    let n_regional = (domains_est / p.domains_per_regional.max(1)).max(2);
    let mut pool = Slots {
        vms: slots,
        next: 0,
        instances: 0,
    };
    let global: Vec<usize> = (0..n_global)
        .map(|_| pool.cluster(&mut e, Tier::GlobalPlatform))
        .collect();
    let regional: Vec<usize> = (0..n_regional)
        .map(|_| pool.cluster(&mut e, Tier::RegionalPlatform))
        .collect();
    // Platform clusters depend on nothing.
    let mut domain = 0usize;
    loop {
        if pool.remaining() < per_domain {
            break;
        }
        let shared: Vec<usize> = rng
            .distinct(global.len(), 2)
            .into_iter()
            .map(|i| global[i])
            .chain(
                rng.distinct(regional.len(), 2)
                    .into_iter()
                    .map(|i| regional[i]),
            )
            .collect();
        let mut tiers: Vec<Vec<usize>> = Vec::new();
        for &(tier, n) in &DOMAIN {
            tiers.push((0..n).map(|_| pool.cluster(&mut e, tier)).collect());
        }
        let (db, mid, front) = (&tiers[0], &tiers[1], &tiers[2]);
        let pick = |rng: &mut Rng, from: &[usize], k: usize| -> Vec<usize> {
            rng.distinct(from.len(), k)
                .into_iter()
                .map(|i| from[i])
                .collect()
        };
        // Cluster-level dependencies; every instance of the cluster carries them.
        let mut deps: Vec<(usize, Vec<usize>)> = Vec::new();
        for &c in db {
            deps.push((c, shared.clone()));
        }
        for &c in mid {
            let mut d = pick(&mut rng, db, 2);
            d.extend(&shared);
            deps.push((c, d));
        }
        for &c in front {
            let mut d = pick(&mut rng, mid, 2);
            d.extend(pick(&mut rng, db, 1));
            d.extend(&shared);
            deps.push((c, d));
        }
        for (c, d) in deps {
            let instances = e.clusters[c].instances.clone();
            for svc in instances {
                for &target in &d {
                    let t = e.clusters[target].id;
                    e.link(svc, t, RelKind::DependsOn);
                }
            }
        }
        for a in 0..APPS_PER_DOMAIN {
            let app = e.plain(format!("app-{domain}-{a}"));
            let mut d = pick(&mut rng, front, 3);
            d.extend(pick(&mut rng, mid, 1));
            d.extend(pick(&mut rng, db, 1));
            for c in d {
                let t = e.clusters[c].id;
                e.link(app, t, RelKind::DependsOn);
            }
            e.applications.push(app);
        }
        domain += 1;
    }
    // Business services over neighbouring applications (a business line's apps sit together).
    let apps = e.applications.clone();
    for (i, chunk) in apps.chunks(APPS_PER_BUSINESS_SERVICE).enumerate() {
        let biz = e.node(
            format!("biz-{i}"),
            NodeAttrs {
                business_service: true,
                ..NodeAttrs::default()
            },
        );
        for &app in chunk {
            e.link(biz, app, RelKind::DependsOn);
        }
        // And one application of the next line, so business services overlap.
        if let Some(&other) = apps.get((i + 1) * APPS_PER_BUSINESS_SERVICE) {
            e.link(biz, other, RelKind::DependsOn);
        }
        e.business_services.push(biz);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impact::tests::check_against_reference;
    use crate::{GraphIndex, ImpactOptions, NodeId, State};

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let mut a = Rng::new(3);
        let mut b = Rng::new(3);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.below(7);
            assert_eq!(x, b.below(7));
            assert!(x < 7);
        }
        assert_eq!(a.below(0), 0);
        let d = a.distinct(5, 5);
        let mut sorted = d.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn the_default_core_of_the_data_centre_is_the_core_pair() {
        let e = data_centre(&EstateParams::small());
        let g = GraphIndex::build(e.nodes(), e.edges());
        let mut got = g.core_nodes();
        got.sort();
        let want: Vec<NodeId> = e
            .cores
            .iter()
            .filter_map(|&c| g.node_id(e.key(c)))
            .collect();
        assert_eq!(got, want);
    }

    /// The synthetic data centre against the reference, on the failures that matter.
    #[test]
    fn data_centre_failures_agree_with_the_reference() {
        for declare_core in [false, true] {
            let p = EstateParams {
                declare_core,
                ..EstateParams::small()
            };
            let e = data_centre(&p);
            let nodes = e.nodes();
            let edges = e.edges();
            let g = GraphIndex::build(nodes.clone(), edges.clone());
            let mut cases: Vec<Vec<u32>> = vec![
                e.cores.clone(),
                e.cores[..1].to_vec(),
                e.pods[0].to_vec(),
                e.pods[0][..1].to_vec(),
                e.racks[1].to_vec(),
                vec![e.hypervisors[0]],
                vec![e.storage[0]],
                vec![e.vms[2]],
                e.clusters[0].instances.clone(),
                vec![e.clusters[3].instances[0]],
                vec![e.applications[0]],
            ];
            for c in e.clusters.iter().filter(|c| c.tier == Tier::Database) {
                cases.push(c.instances.clone());
            }
            let mut rng = Rng::new(11);
            for _ in 0..40 {
                cases.push(
                    (0..1 + rng.below(4))
                        .map(|_| rng.below(e.keys.len()) as u32)
                        .collect(),
                );
            }
            for failed in cases {
                check_against_reference(&g, &nodes, &edges, &e.keys_of(&failed));
            }
        }
    }

    #[test]
    fn losing_both_cores_takes_down_everything_but_power_and_storage() {
        let e = data_centre(&EstateParams::small());
        let g = GraphIndex::build(e.nodes(), e.edges());
        let ids: Vec<NodeId> = e
            .cores
            .iter()
            .filter_map(|&c| g.node_id(e.key(c)))
            .collect();
        let r = g.impact(&ids, &ImpactOptions::default());
        let unaffected: Vec<&str> = (0..g.id_bound() as NodeId)
            .filter(|&n| r.get(n).is_none())
            .map(|n| g.key(n))
            .collect();
        assert!(
            unaffected
                .iter()
                .all(|k| k.starts_with("pdu-") || k.starts_with("pwr-") || k.starts_with("san-")),
            "{unaffected:?}"
        );
        assert_eq!(r.count(State::Degraded), 0);
        assert_eq!(r.business_services().len(), e.business_services.len());
    }

    /// A mutated index, rebuilt from its own edges() and nodes() (what a restart does), answers
    /// the same.
    #[test]
    fn an_index_rebuilt_from_its_dump_answers_the_same() {
        let e = data_centre(&EstateParams::small());
        let mut g = GraphIndex::build(e.nodes(), e.edges());
        let mut rng = Rng::new(5);
        for i in 0..300 {
            let a = e.key(rng.below(e.keys.len()) as u32).to_string();
            let b = e.key(rng.below(e.keys.len()) as u32).to_string();
            let kind = RelKind::ALL[rng.below(6)];
            match rng.below(8) {
                0..=3 => {
                    g.add_edge(&a, &b, kind);
                }
                4..=5 => {
                    let (s, d, k) = e.links[rng.below(e.links.len())];
                    g.remove_edge(e.key(s), e.key(d), k);
                }
                6 => {
                    g.add_edge(&format!("new-{i}"), &b, kind);
                }
                _ => {
                    g.remove_node(&a);
                }
            }
        }
        let rebuilt = GraphIndex::build(
            g.nodes(),
            g.edges()
                .into_iter()
                .flat_map(|(a, b, k, m)| std::iter::repeat_n((a, b, k), m as usize)),
        );
        assert_eq!(rebuilt.edges(), g.edges());
        assert_eq!(rebuilt.nodes(), g.nodes());
        crate::impact::tests::assert_same_impacts(&g, &rebuilt, &mut rng, 60);
        // And both agree with the reference.
        let nodes = g.nodes();
        let edges: Vec<_> = g
            .edges()
            .into_iter()
            .map(|(a, b, k, _)| (a, b, k))
            .collect();
        for _ in 0..20 {
            let failed = vec![nodes[rng.below(nodes.len())].0.clone()];
            check_against_reference(&g, &nodes, &edges, &failed);
            check_against_reference(&rebuilt, &nodes, &edges, &failed);
        }
    }

    #[test]
    fn for_cis_scales_to_the_target() {
        let p = EstateParams::for_cis(60_000);
        let e = data_centre(&p);
        let n = e.keys.len();
        assert!((50_000..70_000).contains(&n), "{n} CIs");
        let ratio = e.links.len() as f64 / n as f64;
        assert!((4.5..5.5).contains(&ratio), "{ratio} relationships per CI");
    }
}
