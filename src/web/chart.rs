//! Server-rendered SVG bar charts for the admin dashboard (messages per
//! day and the like).
//!
//! Why this shape: the portal sends no JavaScript and loads no fonts, so a
//! chart is one self-contained inline `<svg>` string. It is accessible
//! (`role="img"`, a `<title>`, and an `aria-label` that reads out every
//! value), and it follows the page's light or dark theme: text and axis
//! use `currentColor`, and the bars one accent fill that reads on both.
//! Every label and the title are XML-escaped here, so callers may pass
//! any text.

use std::fmt::Write as _;

/// One chart's data.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    /// What the chart shows, e.g. "Messages in per day"; becomes the
    /// `<title>` and starts the `aria-label`.
    pub title: &'a str,
    /// Bars from left to right: a short label such as "11-20", and a value.
    pub points: &'a [(String, u64)],
}

/// Up to this many points, every bar has its x label and value label;
/// beyond it, every k-th does, counted back from the last (newest) bar.
const MAX_LABELS: usize = 14;

/// The bars' fill: a mid blue with enough contrast on white and on black.
const ACCENT: &str = "#3b82f6";

/// Space above the bars for value labels, in px.
const TOP: f64 = 16.0;
/// Space below the baseline for x labels, in px.
const BOTTOM: f64 = 18.0;
/// Space left and right of the bars, in px.
const SIDE: f64 = 4.0;
/// Share of each bar's slot the bar fills; the rest is the gap.
const BAR_SHARE: f64 = 0.8;
/// Rough width of one character at font-size 10, to keep labels inside.
const CHAR_WIDTH: f64 = 6.0;

/// `s` as a bar chart of `width` × `height` px, bars scaled so the largest
/// value reaches the top of the plot area. With no points or only zeros it
/// draws just the baseline.
pub fn bar_chart(s: &Series<'_>, width: u32, height: u32) -> String {
    let layout = Layout::new(s, width, height);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{label}\" \
         font-family=\"system-ui, sans-serif\" font-size=\"10\" fill=\"currentColor\">\
         <title>{title}</title>",
        label = escape(&summary(s)),
        title = escape(s.title),
    );
    let _ = write!(
        svg,
        "<line x1=\"{SIDE}\" y1=\"{base:.1}\" x2=\"{right:.1}\" y2=\"{base:.1}\" \
         stroke=\"currentColor\" stroke-opacity=\"0.5\"/>",
        base = layout.baseline(),
        right = f64::from(width) - SIDE,
    );
    svg.push_str(&bars(s, &layout));
    svg.push_str(&labels(s, &layout, f64::from(height)));
    svg.push_str("</svg>");
    svg
}

/// Where things go, computed once per chart.
struct Layout {
    /// Width of one bar's slot, bar plus gap.
    slot: f64,
    /// Height of the plot area: what the largest value reaches.
    plot: f64,
    /// The largest value; 0 when there is nothing to draw.
    max: u64,
    /// Label every `stride`-th point.
    stride: usize,
    /// Number of points.
    count: usize,
    /// Width of the whole chart.
    width: f64,
}

impl Layout {
    fn new(s: &Series<'_>, width: u32, height: u32) -> Layout {
        let count = s.points.len();
        let usable = (f64::from(width) - 2.0 * SIDE).max(0.0);
        Layout {
            slot: usable / count.max(1) as f64,
            plot: (f64::from(height) - TOP - BOTTOM).max(0.0),
            max: s.points.iter().map(|(_, v)| *v).max().unwrap_or(0),
            stride: count.div_ceil(MAX_LABELS).max(1),
            count,
            width: f64::from(width),
        }
    }

    fn baseline(&self) -> f64 {
        TOP + self.plot
    }

    /// Horizontal centre of bar `i`.
    fn centre(&self, i: usize) -> f64 {
        SIDE + self.slot * (i as f64 + 0.5)
    }

    /// Height of a bar for `value`; never NaN, since `max` 0 draws nothing.
    fn bar_height(&self, value: u64) -> f64 {
        if self.max == 0 {
            0.0
        } else {
            self.plot * (value as f64 / self.max as f64)
        }
    }

    /// Where to centre `text` over bar `i` so that it stays inside the
    /// chart (the first and last labels would otherwise be clipped).
    fn text_x(&self, i: usize, text: &str) -> f64 {
        let half = text.chars().count() as f64 * CHAR_WIDTH / 2.0;
        let right = (self.width - half).max(half);
        self.centre(i).clamp(half, right)
    }

    /// Whether point `i` gets its labels: all of them up to
    /// [`MAX_LABELS`], else every `stride`-th ending on the last.
    fn labelled(&self, i: usize) -> bool {
        (self.count - 1 - i).is_multiple_of(self.stride)
    }
}

/// One `<rect>` per non-zero value, each with a hover `<title>`.
fn bars(s: &Series<'_>, layout: &Layout) -> String {
    let mut out = format!("<g class=\"bars\" fill=\"{ACCENT}\">");
    let bar_width = layout.slot * BAR_SHARE;
    for (i, (label, value)) in s.points.iter().enumerate() {
        let h = layout.bar_height(*value);
        if h <= 0.0 {
            continue;
        }
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_width:.1}\" height=\"{h:.1}\">\
             <title>{label}: {value}</title></rect>",
            x = layout.centre(i) - bar_width / 2.0,
            y = layout.baseline() - h,
            label = escape(label),
        );
    }
    out.push_str("</g>");
    out
}

/// Value labels above the bars and x labels below the baseline, for the
/// labelled points.
fn labels(s: &Series<'_>, layout: &Layout, height: f64) -> String {
    let mut out = String::from("<g class=\"labels\" text-anchor=\"middle\">");
    for (i, (label, value)) in s.points.iter().enumerate() {
        if !layout.labelled(i) {
            continue;
        }
        let _ = write!(
            out,
            "<text x=\"{vx:.1}\" y=\"{vy:.1}\">{value}</text>\
             <text x=\"{lx:.1}\" y=\"{ly:.1}\" fill-opacity=\"0.8\">{label}</text>",
            vx = layout.text_x(i, &value.to_string()),
            vy = layout.baseline() - layout.bar_height(*value) - 3.0,
            lx = layout.text_x(i, label),
            ly = height - 5.0,
            label = escape(label),
        );
    }
    out.push_str("</g>");
    out
}

/// What a screen reader says: "Title: label value, label value, …".
fn summary(s: &Series<'_>) -> String {
    if s.points.is_empty() {
        return format!("{}: no data", s.title);
    }
    let values: Vec<String> = s.points.iter().map(|(l, v)| format!("{l} {v}")).collect();
    format!("{}: {}", s.title, values.join(", "))
}

/// Escapes text for XML element content and double- or single-quoted
/// attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(values: &[u64]) -> Vec<(String, u64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("11-{:02}", i + 1), *v))
            .collect()
    }

    fn parse(svg: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(svg).expect("chart is well-formed XML")
    }

    /// `(height, title text)` of every bar.
    fn bar_rects(doc: &roxmltree::Document<'_>) -> Vec<(f64, String)> {
        doc.descendants()
            .filter(|n| n.has_tag_name("rect"))
            .map(|n| {
                let h = n
                    .attribute("height")
                    .expect("height")
                    .parse()
                    .expect("number");
                let title = n.first_element_child().and_then(|t| t.text()).unwrap_or("");
                (h, title.to_owned())
            })
            .collect()
    }

    fn x_labels(doc: &roxmltree::Document<'_>) -> Vec<String> {
        doc.descendants()
            .filter(|n| n.has_tag_name("text") && n.attribute("fill-opacity").is_some())
            .filter_map(|n| n.text().map(str::to_owned))
            .collect()
    }

    #[test]
    fn escape_covers_markup_characters() {
        assert_eq!(
            escape(r#"<a & "b" 'c'>"#),
            "&lt;a &amp; &quot;b&quot; &#39;c&#39;&gt;"
        );
        assert_eq!(escape("plain 11-20"), "plain 11-20");
    }

    #[test]
    fn title_and_labels_are_escaped() {
        let pts = vec![("<b>&\"x\"".to_owned(), 3)];
        let svg = bar_chart(
            &Series {
                title: "In & out <now>",
                points: &pts,
            },
            300,
            120,
        );
        assert!(!svg.contains("<b>"), "{svg}");
        let doc = parse(&svg);
        let title = doc
            .descendants()
            .find(|n| n.has_tag_name("title"))
            .expect("title");
        assert_eq!(title.text(), Some("In & out <now>"));
        let label = doc
            .root_element()
            .attribute("aria-label")
            .expect("aria-label");
        assert_eq!(label, "In & out <now>: <b>&\"x\" 3");
        assert_eq!(x_labels(&doc), ["<b>&\"x\""]);
    }

    #[test]
    fn accessible_and_self_contained() {
        let pts = points(&[3, 0, 5]);
        let svg = bar_chart(
            &Series {
                title: "Messages in per day",
                points: &pts,
            },
            300,
            120,
        );
        let doc = parse(&svg);
        let root = doc.root_element();
        assert_eq!(root.attribute("role"), Some("img"));
        assert_eq!(
            root.attribute("aria-label"),
            Some("Messages in per day: 11-01 3, 11-02 0, 11-03 5")
        );
        assert_eq!(root.attribute("font-family"), Some("system-ui, sans-serif"));
        assert!(svg.contains("currentColor"));
        for banned in ["<script", "onload", "href", "@font-face", "url("] {
            assert!(!svg.contains(banned), "{banned} in {svg}");
        }
    }

    #[test]
    fn empty_points_draw_a_baseline() {
        let svg = bar_chart(
            &Series {
                title: "Nothing",
                points: &[],
            },
            300,
            120,
        );
        let doc = parse(&svg);
        assert!(doc.descendants().any(|n| n.has_tag_name("line")));
        assert!(bar_rects(&doc).is_empty());
        assert_eq!(
            doc.root_element().attribute("aria-label"),
            Some("Nothing: no data")
        );
    }

    #[test]
    fn all_zeros_draw_no_bars_and_no_nan() {
        let pts = points(&[0, 0, 0, 0]);
        let svg = bar_chart(
            &Series {
                title: "Zeros",
                points: &pts,
            },
            300,
            120,
        );
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let doc = parse(&svg);
        assert!(doc.descendants().any(|n| n.has_tag_name("line")));
        assert!(bar_rects(&doc).is_empty());
        assert_eq!(x_labels(&doc).len(), 4);
    }

    #[test]
    fn max_bar_has_full_height() {
        let pts = points(&[2, 8, 4]);
        let (width, height) = (300, 120);
        let svg = bar_chart(
            &Series {
                title: "t",
                points: &pts,
            },
            width,
            height,
        );
        let doc = parse(&svg);
        let rects = bar_rects(&doc);
        let full = f64::from(height) - TOP - BOTTOM;
        assert_eq!(rects.len(), 3);
        assert_eq!(rects[1], (full, "11-02: 8".to_owned()));
        assert!((rects[0].0 - full / 4.0).abs() < 0.1);
        assert!((rects[2].0 - full / 2.0).abs() < 0.1);
    }

    #[test]
    fn fourteen_points_label_every_bar() {
        let pts = points(&[1; 14]);
        let svg = bar_chart(
            &Series {
                title: "t",
                points: &pts,
            },
            600,
            120,
        );
        assert_eq!(x_labels(&parse(&svg)).len(), 14);
    }

    #[test]
    fn thirty_points_label_every_third_ending_on_the_last() {
        let values: Vec<u64> = (0..30).map(|i| i * 37 % 11).collect();
        let pts = points(&values);
        let svg = bar_chart(
            &Series {
                title: "Month",
                points: &pts,
            },
            600,
            150,
        );
        assert!(!svg.contains("NaN"));
        let doc = parse(&svg);
        let shown = x_labels(&doc);
        assert_eq!(shown.len(), 10);
        assert_eq!(shown.first().map(String::as_str), Some("11-03"));
        assert_eq!(shown.last().map(String::as_str), Some("11-30"));
        let nonzero = values.iter().filter(|v| **v > 0).count();
        assert_eq!(bar_rects(&doc).len(), nonzero);
        let label = doc
            .root_element()
            .attribute("aria-label")
            .expect("aria-label");
        assert_eq!(label.matches(", ").count(), 29, "every value is read out");
    }

    #[test]
    fn edge_labels_stay_inside_the_chart() {
        let pts = points(&[7; 30]);
        let svg = bar_chart(
            &Series {
                title: "t",
                points: &pts,
            },
            600,
            150,
        );
        let doc = parse(&svg);
        for text in doc.descendants().filter(|n| n.has_tag_name("text")) {
            let x: f64 = text.attribute("x").expect("x").parse().expect("number");
            let half = text.text().map_or(0, |t| t.chars().count()) as f64 * CHAR_WIDTH / 2.0;
            assert!(
                x - half >= 0.0 && x + half <= 600.0,
                "{x} {:?}",
                text.text()
            );
        }
    }

    #[test]
    fn tiny_canvas_stays_finite() {
        let pts = points(&[5, 1]);
        let svg = bar_chart(
            &Series {
                title: "t",
                points: &pts,
            },
            0,
            0,
        );
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        parse(&svg);
    }
}
