//! Sets of instants as sorted, disjoint, non-touching half-open intervals `[start, end)` of
//! unix seconds: the set algebra every figure is computed with. Two-pointer merges, linear in
//! the inputs.

/// `[start, end)` in unix seconds.
pub type Interval = (i64, i64);

/// The union of any intervals, as a normalized list: sorted, overlapping and touching
/// intervals joined, empty ones dropped. The other functions here expect normalized input.
pub fn normalize(intervals: &[Interval]) -> Vec<Interval> {
    let mut v: Vec<Interval> = intervals.iter().copied().filter(|(s, e)| s < e).collect();
    v.sort_unstable();
    let mut out: Vec<Interval> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Whether `intervals` is already normalized (sorted, disjoint, not touching, none empty).
pub fn is_normalized(intervals: &[Interval]) -> bool {
    intervals.iter().all(|(s, e)| s < e) && intervals.windows(2).all(|w| w[0].1 < w[1].0)
}

/// `a ∪ b`.
pub fn union(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let mut all = Vec::with_capacity(a.len() + b.len());
    all.extend_from_slice(a);
    all.extend_from_slice(b);
    normalize(&all)
}

/// `a ∩ b`, both normalized.
pub fn intersect(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    debug_assert!(is_normalized(a) && is_normalized(b));
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let s = a[i].0.max(b[j].0);
        let e = a[i].1.min(b[j].1);
        if s < e {
            out.push((s, e));
        }
        // The one that ends first cannot meet anything further in the other list.
        if a[i].1 <= b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// `a − b`, both normalized.
pub fn subtract(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    debug_assert!(is_normalized(a) && is_normalized(b));
    let mut out = Vec::new();
    let mut j = 0;
    for &(s, e) in a {
        // Intervals of `b` ending before this one starts are behind every later one too.
        while j < b.len() && b[j].1 <= s {
            j += 1;
        }
        let mut cur = s;
        let mut k = j;
        while k < b.len() && b[k].0 < e {
            if b[k].0 > cur {
                out.push((cur, b[k].0));
            }
            cur = cur.max(b[k].1);
            if cur >= e {
                break;
            }
            k += 1;
        }
        if cur < e {
            out.push((cur, e));
        }
    }
    out
}

/// `a ∩ [from, to)`, `a` normalized.
pub fn clip(a: &[Interval], from: i64, to: i64) -> Vec<Interval> {
    if from >= to {
        return Vec::new();
    }
    intersect(a, &[(from, to)])
}

/// Seconds covered by normalized intervals.
pub fn total(a: &[Interval]) -> i64 {
    a.iter().map(|(s, e)| e - s).sum()
}

/// `[start, end)` cut into consecutive pieces, each flagged with whether it lies in `set`
/// (normalized). Only the part of `set` near `[start, end)` is visited.
pub(crate) fn split(start: i64, end: i64, set: &[Interval]) -> Vec<(i64, i64, bool)> {
    let mut out = Vec::new();
    let mut cur = start;
    let first = set.partition_point(|&(_, e)| e <= start);
    for &(s, e) in &set[first..] {
        if s >= end || cur >= end {
            break;
        }
        if s > cur {
            out.push((cur, s, false));
        }
        let inside_end = e.min(end);
        if inside_end > cur.max(s) {
            out.push((cur.max(s), inside_end, true));
        }
        cur = inside_end;
    }
    if cur < end {
        out.push((cur, end, false));
    }
    out
}
