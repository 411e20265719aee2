//! Layered ("Sugiyama-style") layout of a directed graph, for the impact graph and the
//! relationship map the web UI draws server-side. Written by hand for this product: the
//! pages need a small, deterministic layout, not a general graph-drawing library.
//!
//! Steps:
//! 1. **Cycles** are broken deterministically: a depth-first search from the nodes in key
//!    order reverses every edge that closes a cycle (a back edge); a reversed edge is still
//!    drawn from its source to its target, so its arrow points up.
//! 2. **Layers** by longest path from the sources: every (possibly reversed) edge goes from a
//!    lower layer index to a higher one.
//! 3. **Dummy nodes** on edges spanning more than one layer, so long edges bend around nodes
//!    (when they would exceed [`MAX_DUMMIES`], long edges are drawn straight instead).
//! 4. **Ordering** within layers: barycenter sweeps down and up ([`SWEEPS`] rounds), ties
//!    broken by key, keeping the order with the fewest crossings seen.
//! 5. **Coordinates**: fixed node size and gaps, each layer centred on the widest one, so no
//!    two node rectangles overlap.
//!
//! The same input always gives the same output (no hash-map iteration, no randomness).
//! At most [`MAX_NODES`] nodes: beyond, the caller shows a table and says the graph was cut.

use std::cmp::Ordering;

/// Most nodes laid out.
pub const MAX_NODES: usize = 300;
/// Most dummy nodes added for long edges; beyond, long edges are straight lines.
pub const MAX_DUMMIES: usize = 3000;
/// Barycenter sweep rounds (one down and one up each).
pub const SWEEPS: usize = 4;
/// Node rectangle width.
pub const NODE_W: i32 = 180;
/// Node rectangle height.
pub const NODE_H: i32 = 44;
/// Horizontal gap between neighbouring nodes of a layer.
pub const H_GAP: i32 = 30;
/// Vertical gap between layers.
pub const V_GAP: i32 = 60;
/// Width a dummy node takes in its layer.
pub const DUMMY_W: i32 = 16;
/// Blank border around the drawing.
pub const MARGIN: i32 = 20;

/// A node's place: its rectangle's top-left corner, size [`NODE_W`] × [`NODE_H`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePos {
    pub layer: usize,
    /// Position within the layer (0 = leftmost), dummies counted.
    pub order: usize,
    pub x: i32,
    pub y: i32,
}

/// One input edge as drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgePath {
    /// Input node indexes.
    pub from: usize,
    pub to: usize,
    /// True when the edge was reversed to break a cycle (it is drawn upwards).
    pub reversed: bool,
    /// From the source's border to the target's border, through the dummy nodes' centres.
    pub points: Vec<(i32, i32)>,
}

/// A laid-out graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// One per input node, in input order.
    pub nodes: Vec<NodePos>,
    /// One per distinct input edge (self-loops and repeats left out), in input order.
    pub edges: Vec<EdgePath>,
    pub layers: usize,
    pub width: i32,
    pub height: i32,
}

/// Why a graph was not laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    TooManyNodes(usize),
    /// An edge names a node index past the end.
    BadEdge(usize, usize),
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooManyNodes(n) => write!(f, "{n} nodes: at most {MAX_NODES} are drawn"),
            Self::BadEdge(a, b) => write!(f, "edge {a} -> {b} names no node"),
        }
    }
}

/// Lays out nodes named by `keys` (their tie-break order) and directed `edges` between
/// their indexes.
pub fn layout(keys: &[&str], edges: &[(usize, usize)]) -> Result<Layout, LayoutError> {
    let n = keys.len();
    if n > MAX_NODES {
        return Err(LayoutError::TooManyNodes(n));
    }
    if let Some(&(a, b)) = edges.iter().find(|(a, b)| *a >= n || *b >= n) {
        return Err(LayoutError::BadEdge(a, b));
    }
    // Rank of each node in key order (index breaks equal keys).
    let mut by_key: Vec<usize> = (0..n).collect();
    by_key.sort_by(|&a, &b| keys[a].cmp(keys[b]).then(a.cmp(&b)));
    let mut rank = vec![0usize; n];
    for (r, &i) in by_key.iter().enumerate() {
        rank[i] = r;
    }

    // Distinct edges, self-loops left out, in input order.
    let mut seen = std::collections::BTreeSet::new();
    let input: Vec<(usize, usize)> = edges
        .iter()
        .copied()
        .filter(|&(a, b)| a != b && seen.insert((a, b)))
        .collect();

    // 1. Cycles: DFS in key order, successors in key order; back edges are reversed.
    let mut succ: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n]; // (target, edge index)
    for (e, &(a, b)) in input.iter().enumerate() {
        succ[a].push((b, e));
    }
    for s in &mut succ {
        s.sort_by_key(|&(t, e)| (rank[t], e));
    }
    let mut reversed = vec![false; input.len()];
    // 0 new, 1 on the stack, 2 done.
    let mut mark = vec![0u8; n];
    for &root in &by_key {
        if mark[root] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = 1;
        while let Some(top) = stack.last_mut() {
            let (v, i) = *top;
            if i < succ[v].len() {
                top.1 += 1;
                let (t, e) = succ[v][i];
                match mark[t] {
                    0 => {
                        mark[t] = 1;
                        stack.push((t, 0));
                    }
                    1 => reversed[e] = true,
                    _ => {}
                }
            } else {
                mark[v] = 2;
                stack.pop();
            }
        }
    }
    // The acyclic edges (upper, lower).
    let dag: Vec<(usize, usize)> = input
        .iter()
        .zip(&reversed)
        .map(|(&(a, b), &r)| if r { (b, a) } else { (a, b) })
        .collect();
    // A cycle reversed as two opposite edges may leave a pair (a,b) twice: harmless.

    // 2. Layers: longest path from the sources, in a topological order (Kahn, key order).
    let mut indeg = vec![0usize; n];
    let mut down: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &dag {
        indeg[b] += 1;
        down[a].push(b);
    }
    let mut ready: std::collections::BTreeSet<(usize, usize)> = (0..n)
        .filter(|&i| indeg[i] == 0)
        .map(|i| (rank[i], i))
        .collect();
    let mut layer = vec![0usize; n];
    let mut done = 0;
    while let Some(&(r, v)) = ready.iter().next() {
        ready.remove(&(r, v));
        done += 1;
        for &t in &down[v] {
            layer[t] = layer[t].max(layer[v] + 1);
            indeg[t] -= 1;
            if indeg[t] == 0 {
                ready.insert((rank[t], t));
            }
        }
    }
    debug_assert_eq!(done, n, "the reversed edges leave no cycle");
    let layers = layer.iter().max().map_or(0, |m| m + 1);

    // 3. Dummy nodes. Virtual node ids: 0..n real, then dummies.
    let needed: usize = dag
        .iter()
        .map(|&(a, b)| layer[b] - layer[a] - 1)
        .sum::<usize>();
    let use_dummies = needed <= MAX_DUMMIES;
    let mut vlayer = layer.clone();
    // Tie-break key of a virtual node: real nodes by key rank, dummies after, by edge.
    let mut tie: Vec<(usize, usize, usize)> = (0..n).map(|i| (0, rank[i], 0)).collect();
    // Per input edge: its chain of virtual nodes from upper to lower.
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(dag.len());
    for (e, &(a, b)) in dag.iter().enumerate() {
        let mut chain = vec![a];
        if use_dummies {
            for l in layer[a] + 1..layer[b] {
                let d = vlayer.len();
                vlayer.push(l);
                tie.push((1, e, l));
                chain.push(d);
            }
        }
        chain.push(b);
        chains.push(chain);
    }
    let vn = vlayer.len();
    let mut up_adj: Vec<Vec<usize>> = vec![Vec::new(); vn];
    let mut down_adj: Vec<Vec<usize>> = vec![Vec::new(); vn];
    for chain in &chains {
        for w in chain.windows(2) {
            down_adj[w[0]].push(w[1]);
            up_adj[w[1]].push(w[0]);
        }
    }

    // 4. Ordering: initial order by tie key, then barycenter sweeps.
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for v in 0..vn {
        order[vlayer[v]].push(v);
    }
    for l in &mut order {
        l.sort_by(|&a, &b| tie[a].cmp(&tie[b]));
    }
    let mut pos = vec![0usize; vn];
    let set_pos = |order: &Vec<Vec<usize>>, pos: &mut Vec<usize>| {
        for l in order {
            for (i, &v) in l.iter().enumerate() {
                pos[v] = i;
            }
        }
    };
    set_pos(&order, &mut pos);
    let mut best = order.clone();
    let mut best_crossings = crossings(&order, &pos, &down_adj);
    for _ in 0..SWEEPS {
        for layer in order.iter_mut().skip(1) {
            reorder(layer, &pos, &up_adj, &tie);
            for (i, &v) in layer.iter().enumerate() {
                pos[v] = i;
            }
        }
        for layer in order.iter_mut().rev().skip(1) {
            reorder(layer, &pos, &down_adj, &tie);
            for (i, &v) in layer.iter().enumerate() {
                pos[v] = i;
            }
        }
        let c = crossings(&order, &pos, &down_adj);
        if c < best_crossings {
            best_crossings = c;
            best = order.clone();
        }
    }
    let order = best;
    set_pos(&order, &mut pos);

    // 5. Coordinates: slots left to right, each layer centred on the widest.
    let slot = |v: usize| if v < n { NODE_W } else { DUMMY_W };
    let layer_width = |l: &Vec<usize>| -> i32 {
        let w: i32 = l.iter().map(|&v| slot(v)).sum();
        w + H_GAP * (l.len() as i32 - 1).max(0)
    };
    let widest = order.iter().map(layer_width).max().unwrap_or(0);
    let mut vx = vec![0i32; vn];
    let mut vy = vec![0i32; vn];
    for (li, l) in order.iter().enumerate() {
        let mut x = MARGIN + (widest - layer_width(l)) / 2;
        let y = MARGIN + li as i32 * (NODE_H + V_GAP);
        for &v in l {
            vx[v] = x;
            vy[v] = y;
            x += slot(v) + H_GAP;
        }
    }
    let nodes = (0..n)
        .map(|i| NodePos {
            layer: layer[i],
            order: pos[i],
            x: vx[i],
            y: vy[i],
        })
        .collect();
    let edges = input
        .iter()
        .zip(&reversed)
        .zip(&chains)
        .map(|((&(from, to), &rev), chain)| {
            let mut points: Vec<(i32, i32)> = Vec::with_capacity(chain.len());
            let last = chain.len() - 1;
            for (k, &v) in chain.iter().enumerate() {
                let cx = vx[v] + slot(v) / 2;
                if v >= n {
                    points.push((cx, vy[v] + NODE_H / 2));
                } else if k == 0 {
                    points.push((cx, vy[v] + NODE_H));
                } else if k == last {
                    points.push((cx, vy[v]));
                }
            }
            if rev {
                points.reverse();
            }
            EdgePath {
                from,
                to,
                reversed: rev,
                points,
            }
        })
        .collect();
    let height = if layers == 0 {
        2 * MARGIN
    } else {
        2 * MARGIN + layers as i32 * NODE_H + (layers as i32 - 1) * V_GAP
    };
    Ok(Layout {
        nodes,
        edges,
        layers,
        width: widest + 2 * MARGIN,
        height,
    })
}

/// Sorts a layer by the mean position of each node's neighbours in the adjacent layer
/// (`adj`); a node without neighbours keeps its place; ties by the tie key.
fn reorder(layer: &mut [usize], pos: &[usize], adj: &[Vec<usize>], tie: &[(usize, usize, usize)]) {
    let keyed: Vec<(f64, usize)> = layer
        .iter()
        .map(|&v| {
            let a = &adj[v];
            let bary = if a.is_empty() {
                pos[v] as f64
            } else {
                a.iter().map(|&u| pos[u] as f64).sum::<f64>() / a.len() as f64
            };
            (bary, v)
        })
        .collect();
    let mut keyed = keyed;
    keyed.sort_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap_or(Ordering::Equal)
            .then_with(|| tie[a.1].cmp(&tie[b.1]))
    });
    for (slot, (_, v)) in layer.iter_mut().zip(keyed) {
        *slot = v;
    }
}

/// Edge crossings between adjacent layers.
fn crossings(order: &[Vec<usize>], pos: &[usize], down: &[Vec<usize>]) -> usize {
    let mut total = 0;
    for l in order.iter().take(order.len().saturating_sub(1)) {
        let mut segs: Vec<(usize, usize)> = l
            .iter()
            .flat_map(|&v| down[v].iter().map(move |&w| (v, w)))
            .map(|(v, w)| (pos[v], pos[w]))
            .collect();
        segs.sort_unstable();
        for i in 0..segs.len() {
            for j in i + 1..segs.len() {
                if segs[i].0 < segs[j].0 && segs[i].1 > segs[j].1 {
                    total += 1;
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layers_of(l: &Layout) -> Vec<usize> {
        l.nodes.iter().map(|p| p.layer).collect()
    }

    /// The invariants every layout keeps.
    fn check(keys: &[&str], edges: &[(usize, usize)]) -> Layout {
        let l = layout(keys, edges).expect("layout");
        assert_eq!(l.nodes.len(), keys.len());
        // No two rectangles overlap, and all are inside the drawing.
        for (i, a) in l.nodes.iter().enumerate() {
            assert!(a.x >= 0 && a.y >= 0);
            assert!(
                a.x + NODE_W <= l.width && a.y + NODE_H <= l.height,
                "{a:?} in {l:?}"
            );
            for b in &l.nodes[i + 1..] {
                let apart = a.x + NODE_W <= b.x
                    || b.x + NODE_W <= a.x
                    || a.y + NODE_H <= b.y
                    || b.y + NODE_H <= a.y;
                assert!(apart, "{a:?} overlaps {b:?}");
            }
        }
        // Every edge points down the layers (a reversed one, up its drawn direction).
        for e in &l.edges {
            let (upper, lower) = if e.reversed {
                (e.to, e.from)
            } else {
                (e.from, e.to)
            };
            assert!(
                l.nodes[upper].layer < l.nodes[lower].layer,
                "{e:?} in {:?}",
                layers_of(&l)
            );
            assert!(e.points.len() >= 2);
        }
        // Deterministic.
        assert_eq!(layout(keys, edges).expect("again"), l);
        l
    }

    #[test]
    fn a_chain_is_one_node_per_layer_in_a_column() {
        let l = check(&["a", "b", "c", "d"], &[(0, 1), (1, 2), (2, 3)]);
        assert_eq!(layers_of(&l), vec![0, 1, 2, 3]);
        assert_eq!(l.layers, 4);
        assert!(l.nodes.iter().all(|p| p.x == MARGIN));
        assert_eq!(
            l.edges[0].points,
            vec![
                (MARGIN + NODE_W / 2, MARGIN + NODE_H),
                (MARGIN + NODE_W / 2, MARGIN + NODE_H + V_GAP)
            ]
        );
        assert_eq!(l.width, NODE_W + 2 * MARGIN);
        assert_eq!(l.height, 2 * MARGIN + 4 * NODE_H + 3 * V_GAP);
    }

    #[test]
    fn a_diamond_has_its_middle_side_by_side_in_key_order() {
        // top -> left, top -> right, left -> bottom, right -> bottom; given out of key order.
        let l = check(
            &["top", "right", "left", "bottom"],
            &[(0, 1), (0, 2), (2, 3), (1, 3)],
        );
        assert_eq!(layers_of(&l), vec![0, 1, 1, 2]);
        assert_eq!(l.nodes[2].order, 0, "left before right");
        assert_eq!(l.nodes[1].order, 1);
        assert_eq!(l.nodes[2].x + NODE_W + H_GAP, l.nodes[1].x);
        // Top and bottom centred over the pair.
        assert_eq!(l.nodes[0].x, l.nodes[3].x);
        assert_eq!(l.nodes[0].x, MARGIN + (NODE_W + H_GAP) / 2);
    }

    #[test]
    fn a_cycle_is_broken_at_the_edge_back_to_the_first_key() {
        let l = check(&["a", "b", "c"], &[(0, 1), (1, 2), (2, 0)]);
        assert_eq!(layers_of(&l), vec![0, 1, 2]);
        let rev: Vec<bool> = l.edges.iter().map(|e| e.reversed).collect();
        assert_eq!(rev, vec![false, false, true]);
        // The reversed edge is drawn from c (bottom) up to a (top).
        let back = &l.edges[2];
        assert!(back.points.first().expect("p").1 > back.points.last().expect("p").1);
        // A two-cycle and a self-loop.
        let l = check(&["x", "y"], &[(1, 0), (0, 1), (0, 0)]);
        assert_eq!(layers_of(&l), vec![0, 1]);
        assert_eq!(l.edges.iter().filter(|e| e.reversed).count(), 1);
        assert_eq!(l.edges.len(), 2, "the self-loop is left out");
    }

    #[test]
    fn a_wide_fan_puts_the_leaves_in_one_layer_without_overlap() {
        let keys: Vec<String> = (0..25).map(|i| format!("n{i:02}")).collect();
        let mut refs: Vec<&str> = vec!["hub"];
        refs.extend(keys.iter().map(String::as_str));
        let edges: Vec<(usize, usize)> = (1..=25).map(|i| (0, i)).collect();
        let l = check(&refs, &edges);
        assert_eq!(l.layers, 2);
        let leaves: Vec<i32> = l.nodes[1..].iter().map(|p| p.x).collect();
        let mut sorted = leaves.clone();
        sorted.sort();
        assert_eq!(leaves, sorted, "leaves in key order");
        assert_eq!(l.width, 2 * MARGIN + 25 * NODE_W + 24 * H_GAP);
        assert_eq!(
            l.nodes[0].x,
            MARGIN + (25 * NODE_W + 24 * H_GAP - NODE_W) / 2
        );
    }

    #[test]
    fn a_long_edge_bends_through_dummies() {
        // a -> b -> c -> d and a -> d: the long edge passes layers 1 and 2 through dummies.
        let l = check(&["a", "b", "c", "d"], &[(0, 1), (1, 2), (2, 3), (0, 3)]);
        assert_eq!(layers_of(&l), vec![0, 1, 2, 3]);
        assert_eq!(l.edges[3].points.len(), 4);
        assert_eq!(l.width, 2 * MARGIN + NODE_W + H_GAP + DUMMY_W);
    }

    #[test]
    fn crossings_are_removed_where_a_sweep_can() {
        // a -> y, b -> x: key order puts x under a, so the first sweep swaps them.
        let l = check(&["a", "b", "x", "y"], &[(0, 3), (1, 2)]);
        assert_eq!(l.nodes[3].order, 0);
        assert_eq!(l.nodes[2].order, 1);
        assert_eq!(
            l.edges
                .iter()
                .map(|e| e.points[0].0 == e.points[1].0)
                .collect::<Vec<_>>(),
            vec![true, true],
            "straight down"
        );
    }

    #[test]
    fn empty_and_too_large_inputs() {
        let l = check(&[], &[]);
        assert_eq!((l.layers, l.nodes.len()), (0, 0));
        let keys: Vec<String> = (0..=MAX_NODES).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        assert_eq!(
            layout(&refs, &[]),
            Err(LayoutError::TooManyNodes(MAX_NODES + 1))
        );
        assert_eq!(layout(&["a"], &[(0, 1)]), Err(LayoutError::BadEdge(0, 1)));
        // The cap itself is laid out: a long chain.
        let keys: Vec<String> = (0..MAX_NODES).map(|i| format!("{i:03}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let edges: Vec<(usize, usize)> = (1..MAX_NODES).map(|i| (i - 1, i)).collect();
        let l = check(&refs, &edges);
        assert_eq!(l.layers, MAX_NODES);
    }
}
