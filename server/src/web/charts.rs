//! Charts for the report pages, as SVG text: a time-series line chart (axes with dated
//! ticks, the series, a min/max band for rollups, warning and critical threshold lines
//! labelled in text, the fitted trend and the forecast range shaded), a sparkline, and an
//! outage timeline (one bar per CI or service over the report window, maintenance hatched
//! and labelled, not told apart by colour alone).
//!
//! Written by hand rather than with a plotting crate because that is simpler here: the
//! charts are a few lines, rectangles and labels; a plotting crate would bring font files
//! (for measuring text) and more dependencies, and would not promise byte-identical output.
//! This text is deterministic (fixed number formatting, no random ids, no clock), so pages
//! can be compared in snapshot tests. The browser lays out the labels with the page's fonts.
//!
//! Every string that reaches the SVG goes through [`xml_escape`], so a CI's name cannot
//! close an attribute or open an element; every coordinate is finite and clamped into the
//! view box (no `NaN` for empty, flat or single-point series). No inline `style`: only SVG
//! presentation attributes, which the pages' CSP allows.

use std::fmt::Write;

use chrono::DateTime;

/// Escapes text for SVG/XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate or value as text: one decimal, never `NaN`, `inf` or `-0.0`.
fn n(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    let s = format!("{v:.1}");
    if s == "-0.0" { "0.0".into() } else { s }
}

/// A value as shown in a label: fewer decimals as it grows.
fn label_value(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    let s = if a >= 100.0 || a == a.trunc() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if s.starts_with("-0") && s.trim_start_matches(['-', '0', '.']).is_empty() {
        s[1..].to_string()
    } else {
        s
    }
}

/// A time as a tick label: the day, or the hour when the span is short.
fn time_label(t: i64, span: i64) -> String {
    let Some(d) = DateTime::from_timestamp(t, 0) else {
        return String::new();
    };
    if span > 3 * 86_400 {
        d.format("%Y-%m-%d").to_string()
    } else {
        d.format("%m-%d %H:%M").to_string()
    }
}

/// A time for a tooltip.
fn full_time(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// A duration for a tooltip.
pub fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 60 {
        format!("{secs} s")
    } else if secs < 3_600 {
        format!("{} min", secs / 60)
    } else if secs < 86_400 {
        format!("{} h {} min", secs / 3_600, secs % 3_600 / 60)
    } else {
        format!("{} d {} h", secs / 86_400, secs % 86_400 / 3_600)
    }
}

/// A 1-2-5 step giving about `count` intervals over `span`.
fn nice_step(span: f64, count: f64) -> f64 {
    if !(span.is_finite() && span > 0.0) {
        return 1.0;
    }
    let raw = span / count;
    let mag = 10f64.powf(raw.log10().floor());
    let m = raw / mag;
    let step = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    step * mag
}

/// A linear map from a domain to a pixel range, safe for empty domains.
#[derive(Debug, Clone, Copy)]
struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Self {
        let (d0, d1) = if d0.is_finite() && d1.is_finite() && d1 > d0 {
            (d0, d1)
        } else if d0.is_finite() {
            (d0 - 1.0, d0 + 1.0)
        } else {
            (0.0, 1.0)
        };
        Self { d0, d1, r0, r1 }
    }

    /// The pixel of `v`, clamped into the range.
    fn at(&self, v: f64) -> f64 {
        let v = if v.is_finite() { v } else { self.d0 };
        let p = self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0);
        let (lo, hi) = if self.r0 <= self.r1 {
            (self.r0, self.r1)
        } else {
            (self.r1, self.r0)
        };
        p.clamp(lo, hi)
    }
}

/// Which threshold a line is, drawn differently (and labelled) for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Warning,
    Critical,
}

/// A horizontal line at `value`, labelled.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub level: Level,
    pub value: f64,
    pub label: String,
}

/// A time-series chart.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    /// The accessible name (`<title>`).
    pub title: String,
    /// Appended to the y labels (`%`).
    pub unit: String,
    /// `(unix seconds, value)`, in time order.
    pub series: Vec<(i64, f64)>,
    /// `(unix seconds, min, max)` of rollup windows: a band behind the series.
    pub band: Vec<(i64, f64, f64)>,
    pub thresholds: Vec<Threshold>,
    /// The fitted trend: a dashed line from one point to the other.
    pub trend: Option<((i64, f64), (i64, f64))>,
    /// The forecast range `[early, late]` (`late` open when unknown): shaded.
    pub forecast: Option<(i64, Option<i64>)>,
    /// The time axis; by default the series' own span.
    pub x_range: Option<(i64, i64)>,
    /// The value axis; by default the data's (and thresholds') span.
    pub y_range: Option<(f64, f64)>,
}

const W: f64 = 720.0;
const H: f64 = 280.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 34.0;

const SERIES: &str = "#0b5cad";
const BAND: &str = "#9cc3ea";
const WARNING: &str = "#9a6700";
const CRITICAL: &str = "#cf222e";
const TREND: &str = "#1b1f24";
const FORECAST: &str = "#e5c07b";
const AXIS: &str = "#57606a";
const GRID: &str = "#d0d7de";

fn svg_open(out: &mut String, w: f64, h: f64, class: &str, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="{class}" viewBox="0 0 {} {}" width="{}" height="{}" role="img" preserveAspectRatio="xMinYMin meet"><title>{}</title>"#,
        n(w),
        n(h),
        n(w),
        n(h),
        xml_escape(title)
    );
}

/// The line chart as SVG text.
pub fn line_chart(c: &LineChart) -> String {
    let series: Vec<(i64, f64)> = c
        .series
        .iter()
        .copied()
        .filter(|p| p.1.is_finite())
        .collect();
    let band: Vec<(i64, f64, f64)> = c
        .band
        .iter()
        .copied()
        .filter(|b| b.1.is_finite() && b.2.is_finite())
        .collect();
    let (x0, x1) = c.x_range.unwrap_or_else(|| {
        let ts = series.iter().map(|p| p.0).chain(band.iter().map(|b| b.0));
        let lo = ts.clone().min().unwrap_or(0);
        let hi = ts.max().unwrap_or(0);
        (lo, hi)
    });
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0, x0 + 3_600) };
    let (y0, y1) = c.y_range.unwrap_or_else(|| {
        let vs = series
            .iter()
            .map(|p| p.1)
            .chain(band.iter().flat_map(|b| [b.1, b.2]))
            .chain(c.thresholds.iter().map(|t| t.value))
            .chain(c.trend.iter().flat_map(|t| [t.0.1, t.1.1]))
            .filter(|v| v.is_finite());
        let lo = vs.clone().fold(f64::INFINITY, f64::min);
        let hi = vs.fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi.is_finite() {
            let lo = lo.min(0.0);
            (lo, if hi > lo { hi * 1.05 } else { lo + 1.0 })
        } else {
            (0.0, 1.0)
        }
    });
    let xs = Scale::new(x0 as f64, x1 as f64, LEFT, W - RIGHT);
    let ys = Scale::new(y0, y1, H - BOTTOM, TOP);
    let x = |t: i64| xs.at(t as f64);
    let y = |v: f64| ys.at(v);

    let mut out = String::new();
    svg_open(&mut out, W, H, "chart", &c.title);

    // Legend: text, each with its swatch.
    let mut items: Vec<(String, &str)> = vec![(
        format!(
            r#"<line x1="{{x}}" y1="10" x2="{{x2}}" y2="10" stroke="{SERIES}" stroke-width="2"/>"#
        ),
        "value",
    )];
    if !band.is_empty() {
        items.push((
            format!(
                r#"<rect x="{{x}}" y="5" width="14" height="10" fill="{BAND}" fill-opacity="0.6"/>"#
            ),
            "min–max",
        ));
    }
    if c.trend.is_some() {
        items.push((
            format!(r#"<line x1="{{x}}" y1="10" x2="{{x2}}" y2="10" stroke="{TREND}" stroke-width="1.5" stroke-dasharray="4 3"/>"#),
            "trend",
        ));
    }
    if c.forecast.is_some() {
        items.push((
            format!(r#"<rect x="{{x}}" y="5" width="14" height="10" fill="{FORECAST}" fill-opacity="0.45"/>"#),
            "forecast range",
        ));
    }
    let mut lx = LEFT;
    for (swatch, text) in items {
        out.push_str(&swatch.replace("{x}", &n(lx)).replace("{x2}", &n(lx + 14.0)));
        let _ = write!(
            out,
            r#"<text x="{}" y="14" font-size="11" fill="{AXIS}">{}</text>"#,
            n(lx + 18.0),
            xml_escape(text)
        );
        lx += 26.0 + 6.5 * text.chars().count() as f64;
    }

    // Grid and y ticks.
    let step = nice_step(ys.d1 - ys.d0, 4.0);
    let mut v = (ys.d0 / step).ceil() * step;
    let mut guard = 0;
    while v <= ys.d1 + step * 1e-9 && guard < 50 {
        let py = y(v);
        let _ = write!(
            out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{GRID}" stroke-width="1"/><text x="{}" y="{}" font-size="11" text-anchor="end" fill="{AXIS}">{}{}</text>"#,
            n(LEFT),
            n(py),
            n(W - RIGHT),
            n(py),
            n(LEFT - 4.0),
            n((py + 4.0).min(H)),
            xml_escape(&label_value(v)),
            xml_escape(&c.unit)
        );
        v += step;
        guard += 1;
    }
    // X ticks: five dates.
    let span = x1 - x0;
    for i in 0..=4 {
        let t = x0 + span * i / 4;
        let px = x(t);
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{AXIS}" stroke-width="1"/><text x="{}" y="{}" font-size="11" text-anchor="{anchor}" fill="{AXIS}">{}</text>"#,
            n(px),
            n(H - BOTTOM),
            n(px),
            n(H - BOTTOM + 4.0),
            n(px),
            n(H - BOTTOM + 17.0),
            xml_escape(&time_label(t, span))
        );
    }
    // Axes.
    let _ = write!(
        out,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{AXIS}" stroke-width="1"/><line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{AXIS}" stroke-width="1"/>"#,
        n(LEFT),
        n(TOP),
        n(LEFT),
        n(H - BOTTOM),
        n(LEFT),
        n(H - BOTTOM),
        n(W - RIGHT),
        n(H - BOTTOM)
    );

    // Forecast range, behind the data.
    if let Some((early, late)) = c.forecast {
        let a = x(early);
        let b = late.map_or(W - RIGHT, x);
        let (a, b) = if b >= a { (a, b) } else { (b, a) };
        let _ = write!(
            out,
            r#"<rect class="forecast" x="{}" y="{}" width="{}" height="{}" fill="{FORECAST}" fill-opacity="0.45"><title>forecast range {} – {}</title></rect><text x="{}" y="{}" font-size="11" fill="{AXIS}">forecast</text>"#,
            n(a),
            n(TOP),
            n((b - a).max(1.0)),
            n(H - BOTTOM - TOP),
            xml_escape(&full_time(early)),
            xml_escape(&late.map_or_else(|| "beyond the horizon".to_string(), full_time)),
            n((a + 3.0).min(W - RIGHT - 50.0)),
            n(TOP + 12.0)
        );
    }

    // Min/max band.
    if band.len() > 1 {
        let mut pts = String::new();
        for b in &band {
            let _ = write!(pts, "{},{} ", n(x(b.0)), n(y(b.2)));
        }
        for b in band.iter().rev() {
            let _ = write!(pts, "{},{} ", n(x(b.0)), n(y(b.1)));
        }
        let _ = write!(
            out,
            r#"<polygon class="band" points="{}" fill="{BAND}" fill-opacity="0.6"/>"#,
            pts.trim_end()
        );
    }

    // Thresholds, each labelled in text.
    for th in &c.thresholds {
        if !th.value.is_finite() {
            continue;
        }
        let (colour, dash) = match th.level {
            Level::Warning => (WARNING, "8 4"),
            Level::Critical => (CRITICAL, "2 3"),
        };
        let py = y(th.value);
        let _ = write!(
            out,
            r#"<line class="threshold" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="{dash}"/><text x="{}" y="{}" font-size="11" text-anchor="end" fill="{colour}">{}</text>"#,
            n(LEFT),
            n(py),
            n(W - RIGHT),
            n(py),
            n(W - RIGHT - 2.0),
            n((py - 3.0).max(TOP - 2.0)),
            xml_escape(&th.label)
        );
    }

    // The series.
    match series.len() {
        0 => {
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" font-size="13" text-anchor="middle" fill="{AXIS}">no data in this range</text>"#,
                n((LEFT + W - RIGHT) / 2.0),
                n((TOP + H - BOTTOM) / 2.0)
            );
        }
        1 => {
            let (t, v) = series[0];
            let _ = write!(
                out,
                r#"<circle class="series" cx="{}" cy="{}" r="3" fill="{SERIES}"/>"#,
                n(x(t)),
                n(y(v))
            );
        }
        _ => {
            let mut pts = String::new();
            for (t, v) in &series {
                let _ = write!(pts, "{},{} ", n(x(*t)), n(y(*v)));
            }
            let _ = write!(
                out,
                r#"<polyline class="series" points="{}" fill="none" stroke="{SERIES}" stroke-width="2" stroke-linejoin="round"/>"#,
                pts.trim_end()
            );
        }
    }

    // The fitted trend.
    if let Some(((ta, va), (tb, vb))) = c.trend {
        let _ = write!(
            out,
            r#"<line class="trend" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{TREND}" stroke-width="1.5" stroke-dasharray="4 3"/>"#,
            n(x(ta)),
            n(y(va)),
            n(x(tb)),
            n(y(vb))
        );
    }
    out.push_str("</svg>");
    out
}

/// A small line of `values` (time order), with the trend dashed when given.
pub fn sparkline(
    title: &str,
    values: &[(i64, f64)],
    trend: Option<((i64, f64), (i64, f64))>,
) -> String {
    const SW: f64 = 120.0;
    const SH: f64 = 28.0;
    let values: Vec<(i64, f64)> = values.iter().copied().filter(|p| p.1.is_finite()).collect();
    let mut out = String::new();
    svg_open(&mut out, SW, SH, "spark", title);
    let t0 = values
        .iter()
        .map(|p| p.0)
        .chain(trend.iter().map(|t| t.0.0))
        .min();
    let t1 = values
        .iter()
        .map(|p| p.0)
        .chain(trend.iter().map(|t| t.1.0))
        .max();
    let vs = values
        .iter()
        .map(|p| p.1)
        .chain(trend.iter().flat_map(|t| [t.0.1, t.1.1]))
        .filter(|v| v.is_finite());
    let lo = vs.clone().fold(f64::INFINITY, f64::min);
    let hi = vs.fold(f64::NEG_INFINITY, f64::max);
    let xs = Scale::new(
        t0.unwrap_or(0) as f64,
        t1.unwrap_or(0) as f64,
        2.0,
        SW - 4.0,
    );
    let ys = Scale::new(lo, hi, SH - 3.0, 3.0);
    match values.len() {
        0 => {
            let _ = write!(
                out,
                r#"<line x1="2" y1="{}" x2="{}" y2="{}" stroke="{GRID}" stroke-width="1"/>"#,
                n(SH / 2.0),
                n(SW - 2.0),
                n(SH / 2.0)
            );
        }
        _ => {
            let mut pts = String::new();
            for (t, v) in &values {
                let _ = write!(pts, "{},{} ", n(xs.at(*t as f64)), n(ys.at(*v)));
            }
            if values.len() > 1 {
                let _ = write!(
                    out,
                    r#"<polyline points="{}" fill="none" stroke="{SERIES}" stroke-width="1.5"/>"#,
                    pts.trim_end()
                );
            }
            let (t, v) = values[values.len() - 1];
            let _ = write!(
                out,
                r#"<circle cx="{}" cy="{}" r="2" fill="{SERIES}"/>"#,
                n(xs.at(t as f64)),
                n(ys.at(v))
            );
        }
    }
    if let Some(((ta, va), (tb, vb))) = trend {
        let _ = write!(
            out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{TREND}" stroke-width="1" stroke-dasharray="3 2"/>"#,
            n(xs.at(ta as f64)),
            n(ys.at(va)),
            n(xs.at(tb as f64)),
            n(ys.at(vb))
        );
    }
    out.push_str("</svg>");
    out
}

/// One bar of an outage timeline.
#[derive(Debug, Clone, Default)]
pub struct TimelineRow {
    pub label: String,
    /// Unplanned outages `[start, end)`.
    pub outages: Vec<(i64, i64)>,
    /// Down inside maintenance: drawn hatched, apart from the unplanned ones.
    pub planned_outages: Vec<(i64, i64)>,
    /// Maintenance windows `[start, end)`.
    pub maintenance: Vec<(i64, i64)>,
}

/// Most rows a timeline draws (the page's table has them all).
pub const MAX_TIMELINE_ROWS: usize = 60;

/// A label cut to `max` characters.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Outages per row over `[from, to)`: unplanned down solid red, maintenance windows hatched
/// grey and down during maintenance hatched red, each with a tooltip and a legend in text.
pub fn outage_timeline(title: &str, from: i64, to: i64, rows: &[TimelineRow]) -> String {
    const LABEL: f64 = 190.0;
    const ROW: f64 = 22.0;
    const HEAD: f64 = 24.0;
    const FOOT: f64 = 30.0;
    let rows = &rows[..rows.len().min(MAX_TIMELINE_ROWS)];
    let to = if to > from { to } else { from + 3_600 };
    let h = HEAD + ROW * rows.len().max(1) as f64 + FOOT;
    let xs = Scale::new(from as f64, to as f64, LABEL, W - RIGHT);
    let x = |t: i64| xs.at(t as f64);
    let mut out = String::new();
    svg_open(&mut out, W, h, "chart timeline", title);
    out.push_str(concat!(
        r#"<defs><pattern id="cmdb-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">"#,
        r##"<rect width="6" height="6" fill="#f6f8fa"/><line x1="0" y1="0" x2="0" y2="6" stroke="#57606a" stroke-width="2"/></pattern>"##,
        r#"<pattern id="cmdb-hatch-down" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">"#,
        r##"<rect width="6" height="6" fill="#f6f8fa"/><line x1="0" y1="0" x2="0" y2="6" stroke="#cf222e" stroke-width="3"/></pattern></defs>"##
    ));
    // Legend in text.
    let _ = write!(
        out,
        concat!(
            r#"<rect x="{l}" y="5" width="14" height="10" fill="{c}"/><text x="{l1}" y="14" font-size="11" fill="{a}">unplanned outage</text>"#,
            r#"<rect x="{l2}" y="5" width="14" height="10" fill="url(#cmdb-hatch)" stroke="{a}"/><text x="{l3}" y="14" font-size="11" fill="{a}">maintenance (not counted)</text>"#,
            r#"<rect x="{l4}" y="5" width="14" height="10" fill="url(#cmdb-hatch-down)" stroke="{c}"/><text x="{l5}" y="14" font-size="11" fill="{a}">down in maintenance</text>"#
        ),
        l = n(LABEL),
        l1 = n(LABEL + 18.0),
        l2 = n(LABEL + 130.0),
        l3 = n(LABEL + 148.0),
        l4 = n(LABEL + 320.0),
        l5 = n(LABEL + 338.0),
        c = CRITICAL,
        a = AXIS
    );
    if rows.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" font-size="13" fill="{AXIS}">nothing to show in this window</text>"#,
            n(LABEL),
            n(HEAD + 15.0)
        );
    }
    let clip = |(a, b): (i64, i64)| -> Option<(i64, i64)> {
        let (a, b) = (a.max(from), b.min(to));
        (b > a).then_some((a, b))
    };
    for (i, r) in rows.iter().enumerate() {
        let top = HEAD + ROW * i as f64;
        let _ = write!(
            out,
            r##"<text x="4" y="{}" font-size="12" fill="#1b1f24">{}<title>{}</title></text><rect x="{}" y="{}" width="{}" height="{}" fill="{GRID}" fill-opacity="0.5"/>"##,
            n(top + 15.0),
            xml_escape(&shorten(&r.label, 28)),
            xml_escape(&r.label),
            n(LABEL),
            n(top + 3.0),
            n(W - RIGHT - LABEL),
            n(ROW - 6.0)
        );
        let bar = |out: &mut String, span: (i64, i64), fill: &str, stroke: &str, what: &str| {
            let Some((a, b)) = clip(span) else { return };
            let _ = write!(
                out,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}" stroke="{stroke}" stroke-width="0.5"><title>{}: {} – {} ({})</title></rect>"#,
                n(x(a)),
                n(top + 3.0),
                n((x(b) - x(a)).max(1.5)),
                n(ROW - 6.0),
                xml_escape(what),
                xml_escape(&full_time(span.0)),
                xml_escape(&full_time(span.1)),
                xml_escape(&duration(span.1 - span.0))
            );
        };
        for m in &r.maintenance {
            bar(&mut out, *m, "url(#cmdb-hatch)", AXIS, "maintenance");
        }
        for o in &r.planned_outages {
            bar(
                &mut out,
                *o,
                "url(#cmdb-hatch-down)",
                CRITICAL,
                "down in maintenance",
            );
        }
        for o in &r.outages {
            bar(&mut out, *o, CRITICAL, CRITICAL, "outage");
        }
    }
    let base = HEAD + ROW * rows.len().max(1) as f64;
    let span = to - from;
    let _ = write!(
        out,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{AXIS}" stroke-width="1"/>"#,
        n(LABEL),
        n(base),
        n(W - RIGHT),
        n(base)
    );
    for i in 0..=4 {
        let t = from + span * i / 4;
        let anchor = match i {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{AXIS}" stroke-width="1"/><text x="{}" y="{}" font-size="11" text-anchor="{anchor}" fill="{AXIS}">{}</text>"#,
            n(x(t)),
            n(base),
            n(x(t)),
            n(base + 4.0),
            n(x(t)),
            n(base + 17.0),
            xml_escape(&time_label(t, span))
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "\"><svg onload=alert(1)>";

    /// Every number in attributes that are coordinates, with the view box's size.
    fn coordinates(svg: &str) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for attr in [
            "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "width", "height",
        ] {
            let pat = format!(" {attr}=\"");
            let mut rest = svg;
            while let Some(at) = rest.find(&pat) {
                rest = &rest[at + pat.len()..];
                let end = rest.find('"').expect("closing quote");
                let v: f64 = rest[..end]
                    .parse()
                    .unwrap_or_else(|_| panic!("{attr}={:?} in {svg}", &rest[..end]));
                out.push((attr.to_string(), v));
            }
        }
        for key in [" points=\""] {
            let mut rest = svg;
            while let Some(at) = rest.find(key) {
                rest = &rest[at + key.len()..];
                let end = rest.find('"').expect("closing quote");
                for pair in rest[..end].split_whitespace() {
                    let (a, b) = pair.split_once(',').expect("x,y");
                    out.push(("x".into(), a.parse().expect("x")));
                    out.push(("y".into(), b.parse().expect("y")));
                }
            }
        }
        out
    }

    fn view_box(svg: &str) -> (f64, f64) {
        let at = svg.find("viewBox=\"0 0 ").expect("viewBox") + "viewBox=\"0 0 ".len();
        let rest = &svg[at..];
        let end = rest.find('"').expect("end");
        let mut it = rest[..end].split(' ');
        (
            it.next().expect("w").parse().expect("w"),
            it.next().expect("h").parse().expect("h"),
        )
    }

    fn check(svg: &str) {
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"), "{svg}");
        assert!(
            svg.contains(r#"role="img""#) && svg.contains("<title>"),
            "{svg}"
        );
        assert!(!svg.contains("style="), "no inline style: {svg}");
        let (w, h) = view_box(svg);
        for (attr, v) in coordinates(svg) {
            assert!(v.is_finite(), "{attr}");
            let limit = if matches!(attr.as_str(), "x" | "x1" | "x2" | "cx" | "width") {
                w
            } else {
                h
            };
            assert!(
                (0.0..=limit).contains(&v),
                "{attr}={v} outside 0..{limit}: {svg}"
            );
        }
    }

    fn chart(series: Vec<(i64, f64)>) -> LineChart {
        LineChart {
            title: "cpu".into(),
            unit: "%".into(),
            series,
            thresholds: vec![
                Threshold {
                    level: Level::Warning,
                    value: 80.0,
                    label: "warning 80 %".into(),
                },
                Threshold {
                    level: Level::Critical,
                    value: 90.0,
                    label: "critical 90 %".into(),
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(xml_escape(HOSTILE), "&quot;&gt;&lt;svg onload=alert(1)&gt;");
        assert_eq!(xml_escape("a&b'c\u{1}"), "a&amp;b&#39;c ");
        let mut c = chart(vec![(0, 1.0), (100, 2.0)]);
        c.title = HOSTILE.into();
        c.unit = HOSTILE.into();
        c.thresholds[0].label = HOSTILE.into();
        for svg in [
            line_chart(&c),
            sparkline(HOSTILE, &[(0, 1.0)], None),
            outage_timeline(
                HOSTILE,
                0,
                86_400,
                &[TimelineRow {
                    label: HOSTILE.into(),
                    outages: vec![(10, 20)],
                    ..Default::default()
                }],
            ),
        ] {
            assert!(!svg.contains("<svg onload"), "{svg}");
            assert!(
                svg.contains("&quot;&gt;&lt;svg onload=alert(1)&gt;"),
                "{svg}"
            );
            check(&svg);
        }
    }

    #[test]
    fn empty_flat_and_single_point_series_give_finite_coordinates() {
        for series in [
            vec![],
            vec![(1_700_000_000, 42.0)],
            vec![(1_700_000_000, 5.0), (1_700_086_400, 5.0)],
            vec![(1_700_000_000, 0.0), (1_700_000_000, 0.0)],
            vec![(1_700_000_000, f64::NAN), (1_700_000_060, f64::INFINITY)],
        ] {
            let mut c = chart(series.clone());
            check(&line_chart(&c));
            c.thresholds.clear();
            check(&line_chart(&c));
            c.y_range = Some((5.0, 5.0));
            check(&line_chart(&c));
            check(&sparkline("s", &series, None));
            check(&sparkline(
                "s",
                &series,
                Some(((1_700_000_000, 1.0), (1_700_000_000, 1.0))),
            ));
        }
        check(&outage_timeline("t", 10, 10, &[]));
        check(&outage_timeline("t", 10, 5, &[TimelineRow::default()]));
    }

    #[test]
    fn everything_is_drawn_inside_the_view_box() {
        let day = 86_400;
        let series: Vec<(i64, f64)> = (0..30).map(|d| (d * day, 40.0 + d as f64)).collect();
        let c = LineChart {
            band: series
                .iter()
                .map(|p| (p.0, p.1 - 5.0, p.1 + 500.0))
                .collect(),
            trend: Some(((0, 40.0), (60 * day, 1000.0))),
            forecast: Some((45 * day, None)),
            x_range: Some((0, 50 * day)),
            y_range: Some((0.0, 100.0)),
            ..chart(series)
        };
        let svg = line_chart(&c);
        check(&svg);
        assert_eq!(svg.matches(r#"class="threshold""#).count(), 2);
        assert!(svg.contains(">warning 80 %</text>") && svg.contains(">critical 90 %</text>"));
        assert!(svg.contains(r#"class="trend""#) && svg.contains(r#"class="forecast""#));
        assert!(svg.contains(">1970-01-01</text>"), "dated ticks: {svg}");
        let t = outage_timeline(
            "t",
            0,
            10 * day,
            &[TimelineRow {
                label: "a very long name that will not fit in the label column".into(),
                outages: vec![(-day, day), (9 * day, 20 * day)],
                planned_outages: vec![(2 * day, 3 * day)],
                maintenance: vec![(2 * day, 4 * day)],
            }],
        );
        check(&t);
        assert!(t.contains("maintenance (not counted)") && t.contains("url(#cmdb-hatch)"));
        assert!(t.contains("…"));
    }

    #[test]
    fn output_is_deterministic() {
        let c = chart((0..10).map(|i| (i * 3_600, (i * i) as f64)).collect());
        assert_eq!(line_chart(&c), line_chart(&c));
        assert_eq!(label_value(-0.001), "0.00");
        assert_eq!(n(-0.01), "0.0");
        assert_eq!(n(f64::NAN), "0");
    }
}
