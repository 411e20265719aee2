//! A laid-out graph ([`crate::domain::layout`]) as SVG, written by hand: one rectangle per CI
//! with its name and class, a link to its CI page, polylines with arrowheads for the edges.
//! Status is shown by colour AND by text (a symbol and a word on the second line) and shape
//! (failed CIs get a dashed outer frame, business services rounder, thicker corners), so it
//! does not depend on colour alone. Colours are presentation attributes, so a downloaded file
//! looks the same; no `style` attribute anywhere (the UI's CSP forbids inline styles). Every
//! string from the CMDB goes through [`xml_escape`].

use crate::domain::layout::{self, LayoutError, NODE_H, NODE_W};

/// Longest name shown in a node, in characters (the full name is its tooltip).
pub const MAX_NAME_CHARS: usize = 24;
/// Longest second line, in characters.
const MAX_LINE2_CHARS: usize = 28;

/// How a node is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Nothing to say.
    Plain,
    /// The CI the map is centred on.
    Focus,
    /// Assumed down (in the failed set).
    Failed,
    /// Down because of another CI.
    Down,
    /// Degraded.
    Degraded,
    /// At risk: working, redundancy lost.
    AtRisk,
    /// A business service that is down.
    ServiceDown,
    /// A business service that is degraded.
    ServiceDegraded,
}

impl Mark {
    /// The text marker (symbol and word) shown on the node.
    pub fn label(self) -> &'static str {
        match self {
            Mark::Plain => "",
            Mark::Focus => "◎ this CI",
            Mark::Failed => "✖ failed",
            Mark::Down => "▼ down",
            Mark::Degraded => "◐ degraded",
            Mark::AtRisk => "△ at risk",
            Mark::ServiceDown => "★ taken down",
            Mark::ServiceDegraded => "☆ degraded",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Mark::Plain => "plain",
            Mark::Focus => "focus",
            Mark::Failed => "failed",
            Mark::Down => "down",
            Mark::Degraded => "degraded",
            Mark::AtRisk => "at-risk",
            Mark::ServiceDown => "service down",
            Mark::ServiceDegraded => "service degraded",
        }
    }

    /// (fill, stroke)
    fn colours(self) -> (&'static str, &'static str) {
        match self {
            Mark::Plain => ("#f5f7fa", "#8a94a3"),
            Mark::Focus => ("#dbeafe", "#1d4ed8"),
            Mark::Failed => ("#7f1d1d", "#450a0a"),
            Mark::Down | Mark::ServiceDown => ("#fde2e2", "#b91c1c"),
            Mark::Degraded | Mark::ServiceDegraded => ("#fdf0d5", "#b45309"),
            Mark::AtRisk => ("#fefce8", "#a16207"),
        }
    }

    fn is_service(self) -> bool {
        matches!(self, Mark::ServiceDown | Mark::ServiceDegraded)
    }
}

/// A node to draw.
#[derive(Debug, Clone)]
pub struct SvgNode {
    /// CI id: the link target and the layout's tie-break key.
    pub id: String,
    pub name: String,
    pub class: String,
    pub mark: Mark,
}

/// An edge to draw, between node indexes.
#[derive(Debug, Clone)]
pub struct SvgEdge {
    pub from: usize,
    pub to: usize,
    /// Relationship kind or cause, shown as the edge's tooltip.
    pub label: String,
    /// On a highlighted path (drawn thicker and red).
    pub highlight: bool,
    /// Drawn dashed (a stale relationship).
    pub dashed: bool,
}

/// Escapes text for XML content and attribute values: `& < > " '`.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to `max` characters, the last one an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Percent-encodes a path segment (CI ids are plain, but nothing is assumed).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The graph as a standalone SVG document (also valid inline in HTML), with `title` and
/// `desc` for assistive technology. Fails when the graph has more than
/// [`layout::MAX_NODES`] nodes.
pub fn render(
    title: &str,
    desc: &str,
    nodes: &[SvgNode],
    edges: &[SvgEdge],
) -> Result<String, LayoutError> {
    let keys: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let pairs: Vec<(usize, usize)> = edges.iter().map(|e| (e.from, e.to)).collect();
    let l = layout::layout(&keys, &pairs)?;
    let mut out = String::with_capacity(512 + nodes.len() * 600 + edges.len() * 200);
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\" role=\"img\" aria-labelledby=\"graph-title graph-desc\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n",
        w = l.width.max(1),
        h = l.height.max(1)
    ));
    out.push_str(&format!(
        "<title id=\"graph-title\">{}</title>\n<desc id=\"graph-desc\">{}</desc>\n",
        xml_escape(title),
        xml_escape(desc)
    ));
    out.push_str(concat!(
        "<defs>",
        "<marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#4b5563\"/></marker>",
        "<marker id=\"arrow-hit\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#b91c1c\"/></marker>",
        "</defs>\n"
    ));
    // Edges under the nodes. Highlighted ones last, so they are drawn on top.
    out.push_str("<g class=\"edges\">\n");
    let mut order: Vec<usize> = (0..l.edges.len()).collect();
    let edge_of = |p: &layout::EdgePath| {
        edges
            .iter()
            .find(|e| e.from == p.from && e.to == p.to)
            .expect("every laid-out edge is an input edge")
    };
    order.sort_by_key(|&i| edge_of(&l.edges[i]).highlight);
    for i in order {
        let p = &l.edges[i];
        let e = edge_of(p);
        let points: Vec<String> = p.points.iter().map(|(x, y)| format!("{x},{y}")).collect();
        let (stroke, width, marker, class) = if e.highlight {
            ("#b91c1c", 3, "arrow-hit", "edge hit")
        } else {
            ("#4b5563", 1, "arrow", "edge")
        };
        out.push_str(&format!(
            "<polyline class=\"{class}\" points=\"{}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\"{} marker-end=\"url(#{marker})\"><title>{} → {}: {}</title></polyline>\n",
            points.join(" "),
            if e.dashed { " stroke-dasharray=\"5 4\"" } else { "" },
            xml_escape(&nodes[e.from].name),
            xml_escape(&nodes[e.to].name),
            xml_escape(&e.label),
        ));
    }
    out.push_str("</g>\n<g class=\"nodes\">\n");
    for (n, p) in nodes.iter().zip(&l.nodes) {
        let (fill, stroke) = n.mark.colours();
        let text = if n.mark == Mark::Failed {
            "#ffffff"
        } else {
            "#111827"
        };
        let rx = if n.mark.is_service() { 14 } else { 4 };
        let stroke_width = if n.mark.is_service() || n.mark == Mark::Focus {
            3
        } else {
            1
        };
        let line2 = if n.mark == Mark::Plain {
            n.class.clone()
        } else {
            format!("{} · {}", n.mark.label(), n.class)
        };
        out.push_str(&format!(
            "<a href=\"/ui/cis/{}\" class=\"node {}\">",
            xml_escape(&path_segment(&n.id)),
            n.mark.class()
        ));
        out.push_str(&format!(
            "<title>{} ({}){}</title>",
            xml_escape(&n.name),
            xml_escape(&n.class),
            if n.mark == Mark::Plain {
                String::new()
            } else {
                format!(": {}", n.mark.label())
            }
        ));
        if n.mark == Mark::Failed {
            out.push_str(&format!(
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" fill=\"none\" stroke=\"#450a0a\" stroke-width=\"2\" stroke-dasharray=\"4 3\"/>",
                p.x - 4,
                p.y - 4,
                NODE_W + 8,
                NODE_H + 8
            ));
        }
        out.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{stroke_width}\"/>",
            p.x, p.y
        ));
        let cx = p.x + NODE_W / 2;
        out.push_str(&format!(
            "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" fill=\"{text}\" font-weight=\"bold\">{}</text>",
            p.y + 18,
            xml_escape(&truncate(&n.name, MAX_NAME_CHARS))
        ));
        out.push_str(&format!(
            "<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" fill=\"{text}\" font-size=\"11\">{}</text>",
            p.y + 35,
            xml_escape(&truncate(&line2, MAX_LINE2_CHARS))
        ));
        out.push_str("</a>\n");
    }
    out.push_str("</g>\n</svg>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, name: &str, mark: Mark) -> SvgNode {
        SvgNode {
            id: id.into(),
            name: name.into(),
            class: "host".into(),
            mark,
        }
    }

    #[test]
    fn xml_escape_escapes_markup_and_quotes() {
        assert_eq!(
            xml_escape("\"><svg onload=alert(1)>"),
            "&quot;&gt;&lt;svg onload=alert(1)&gt;"
        );
        assert_eq!(
            xml_escape("<script>alert('x') & co</script>"),
            "&lt;script&gt;alert(&apos;x&apos;) &amp; co&lt;/script&gt;"
        );
        assert_eq!(xml_escape("a\u{1}b"), "a\u{FFFD}b");
        assert_eq!(xml_escape("plain-name_1.example"), "plain-name_1.example");
    }

    #[test]
    fn long_names_are_cut_by_characters_with_an_ellipsis() {
        assert_eq!(truncate("short", 24), "short");
        assert_eq!(truncate("ééééé", 4), "ééé…");
        assert_eq!(truncate(&"x".repeat(30), 24).chars().count(), 24);
    }

    #[test]
    fn a_graph_has_linked_nodes_arrows_and_text_markers() {
        let nodes = vec![
            node("sw1", "core switch", Mark::Failed),
            node("h1", "\"><svg onload=alert(1)>", Mark::Down),
            node("bs", "<script>alert(2)</script>", Mark::ServiceDown),
        ];
        let edges = vec![
            SvgEdge {
                from: 0,
                to: 1,
                label: "connected_to".into(),
                highlight: true,
                dashed: false,
            },
            SvgEdge {
                from: 1,
                to: 2,
                label: "depends_on".into(),
                highlight: true,
                dashed: false,
            },
        ];
        let svg = render("Impact <of> sw1", "3 CIs", &nodes, &edges).expect("svg");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"graph-title\">Impact &lt;of&gt; sw1</title>"));
        assert!(svg.contains("<marker id=\"arrow\""));
        assert_eq!(svg.matches("<a href=\"/ui/cis/").count(), 3);
        assert!(svg.contains("<a href=\"/ui/cis/sw1\""));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("marker-end=\"url(#arrow-hit)\""));
        // Status in words, not only colour.
        assert!(svg.contains("✖ failed"));
        assert!(svg.contains("▼ down"));
        assert!(svg.contains("★ taken down"));
        // Hostile names escaped everywhere.
        assert!(!svg.contains("<svg onload"));
        assert!(!svg.contains("<script"));
        assert!(svg.contains("&quot;&gt;&lt;svg onload=alert(1)&gt;"));
        assert!(!svg.contains("style="));
        // Deterministic.
        assert_eq!(
            render("Impact <of> sw1", "3 CIs", &nodes, &edges).expect("svg"),
            svg
        );
    }

    #[test]
    fn too_many_nodes_is_an_error_the_caller_reports() {
        let nodes: Vec<SvgNode> = (0..=layout::MAX_NODES)
            .map(|i| node(&i.to_string(), "n", Mark::Plain))
            .collect();
        assert!(render("t", "d", &nodes, &[]).is_err());
    }
}
