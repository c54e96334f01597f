//! HTML building blocks of the console: escaping, the page layout (inline CSS), tables, times in
//! Beijing time, and the SVG charts. No templates and no build step: pages are strings.

use std::fmt::Write;

use gridline_core::validate;

use crate::service::stats::CST_OFFSET_MS;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
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

/// The last 8 characters of an id (UUIDv7 ids share their leading, time-based characters).
pub fn short_id(id: &str) -> &str {
    let n = id.len();
    id.get(n.saturating_sub(8)..).unwrap_or(id)
}

/// Percent-encodes a query value.
pub fn url(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const DAY_MS: i64 = 86_400_000;

/// `YYYY-MM-DD` in Beijing time.
pub fn date(ms: i64) -> String {
    let (y, m, d) = validate::civil_from_days((ms + CST_OFFSET_MS).div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `MM-DD` in Beijing time (chart labels).
pub fn short_date(ms: i64) -> String {
    date(ms)[5..].to_owned()
}

/// `YYYY-MM-DD HH:MM` in Beijing time.
pub fn datetime(ms: i64) -> String {
    let local = ms + CST_OFFSET_MS;
    let mins = local.rem_euclid(DAY_MS) / 60_000;
    format!("{} {:02}:{:02}", date(ms), mins / 60, mins % 60)
}

/// An optional time, or a dash.
pub fn opt_datetime(ms: Option<i64>) -> String {
    ms.map(datetime).unwrap_or_else(|| "—".into())
}

/// Parses `YYYY-MM-DD` as the start of that Beijing day (ms).
pub fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = validate::days_from_civil(y, m, d);
    (validate::civil_from_days(days) == (y, m, d)).then_some(days * DAY_MS - CST_OFFSET_MS)
}

/// A duration in days and hours.
pub fn duration(ms: Option<i64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) => {
            let h = ms / 3_600_000;
            if h >= 48 {
                format!("{:.1}天", ms as f64 / DAY_MS as f64)
            } else {
                format!("{h}小时")
            }
        }
    }
}

/// A rate as a percentage, or a dash.
pub fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "—".into())
}

const CSS: &str = r#"
*{box-sizing:border-box}body{margin:0;font:14px/1.5 -apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;color:#1f2933;background:#f3f5f8}
header{background:#17324d;color:#fff;display:flex;align-items:center;gap:24px;padding:0 24px;height:52px}
header .brand{font-weight:600;font-size:16px;letter-spacing:1px}header nav a{color:#c9d6e3;text-decoration:none;margin-right:16px}
header nav a.on,header nav a:hover{color:#fff;border-bottom:2px solid #4aa3ff;padding-bottom:14px}
header .me{margin-left:auto;color:#c9d6e3;font-size:13px}header .me button{margin-left:8px}
main{padding:20px 24px;max-width:1320px;margin:0 auto}h1{font-size:20px;margin:4px 0 16px}h2{font-size:16px;margin:20px 0 10px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px}
.card{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:12px 14px}.card .k{color:#5f6b7a;font-size:12px}
.card .v{font-size:24px;font-weight:600;margin-top:2px}.card .s{color:#7b8794;font-size:12px}.card.warn .v{color:#c62828}
.panel{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:14px 16px;margin-bottom:16px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #e6eaef;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f7f9fb;color:#52606d;font-weight:600;font-size:13px;white-space:nowrap}td:nth-child(-n+3){white-space:nowrap}tr.overdue td{background:#fff4f4}
.tag{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;background:#e8eef5;color:#334e68}
.tag.red{background:#fde2e2;color:#b42318}.tag.green{background:#dff5e3;color:#1e7b34}.tag.amber{background:#fff1d6;color:#8a5a00}
form.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin-bottom:12px}form.filters label{display:flex;flex-direction:column;font-size:12px;color:#52606d}
input,select,textarea{font:inherit;padding:4px 6px;border:1px solid #c3ccd6;border-radius:4px;background:#fff}
button,.btn{font:inherit;padding:5px 12px;border-radius:4px;border:1px solid #1f6fc5;background:#1f6fc5;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary,.btn.secondary{background:#fff;color:#1f6fc5}button.danger{background:#c62828;border-color:#c62828}
.actions form{display:inline-block;margin:0 8px 8px 0;padding:8px;border:1px solid #e1e6ec;border-radius:4px;background:#fafbfc}
.muted{color:#7b8794}.err{background:#fde2e2;color:#8a1c1c;border:1px solid #f5b5b5;padding:8px 12px;border-radius:4px;margin-bottom:12px}
.ok{background:#dff5e3;color:#1e5c2c;border:1px solid #a8dcb4;padding:8px 12px;border-radius:4px;margin-bottom:12px}
ol.timeline{list-style:none;padding:0;margin:0;border-left:2px solid #c3d4e6}ol.timeline li{position:relative;padding:4px 0 10px 16px}
ol.timeline li:before{content:"";position:absolute;left:-6px;top:9px;width:10px;height:10px;border-radius:50%;background:#1f6fc5}
.login{max-width:360px;margin:80px auto;background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:28px}
.login label{display:block;margin-bottom:12px}.login input{width:100%;margin-top:4px}
.chart text{font-size:11px;fill:#52606d}pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:12px}
"#;

/// Navigation entries: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/console/", "总览"),
    ("/console/incidents", "事件"),
    ("/console/tasks", "任务"),
    ("/console/patrols", "巡查"),
    ("/console/households", "住户"),
    ("/console/activity", "操作日志"),
    ("/console/devices", "设备同步"),
    ("/console/conflicts", "冲突"),
];

/// Who is logged in, for the header.
pub struct Chrome<'a> {
    /// Display name and role label.
    pub who: &'a str,
    /// CSRF token for the logout form.
    pub csrf: &'a str,
    /// Current path (highlights the nav entry).
    pub path: &'a str,
}

/// A full page.
pub fn page(title: &str, chrome: Option<&Chrome<'_>>, body: &str) -> String {
    let mut h = String::with_capacity(body.len() + 4096);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} · 网格化管理督导台</title><style>{CSS}</style></head><body>",
        esc(title)
    );
    if let Some(c) = chrome {
        h.push_str("<header><span class=\"brand\">网格化管理督导台</span><nav>");
        for (p, l) in NAV {
            let on = if (*p == "/console/" && c.path == "/console/") || (*p != "/console/" && c.path.starts_with(p)) { " class=\"on\"" } else { "" };
            let _ = write!(h, "<a href=\"{p}\"{on}>{l}</a>");
        }
        let _ = write!(
            h,
            "</nav><span class=\"me\">{}<form method=\"post\" action=\"/console/logout\" style=\"display:inline\">\
             <input type=\"hidden\" name=\"_csrf\" value=\"{}\"><button class=\"secondary\" type=\"submit\">退出</button></form></span></header>",
            esc(c.who),
            esc(c.csrf)
        );
    }
    let _ = write!(h, "<main>{body}</main></body></html>");
    h
}

/// One CSV cell. A cell a spreadsheet would take for a formula (starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return) gets a leading `'`, so it shows as the text it is; a cell
/// with a comma, a quote or a line break is quoted.
pub fn csv_cell(c: &str) -> String {
    let c = if c.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{c}") } else { c.to_owned() };
    if c.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c
    }
}

/// A table from a header and already-escaped cells.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut h = String::from("<table><thead><tr>");
    for c in head {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(h, "<tr><td colspan=\"{}\" class=\"muted\">暂无数据</td></tr>", head.len());
    }
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{c}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

/// A summary card.
pub fn card(label: &str, value: &str, sub: &str, warn: bool) -> String {
    format!(
        "<div class=\"card{}\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"s\">{}</div></div>",
        if warn { " warn" } else { "" },
        esc(label),
        esc(value),
        esc(sub)
    )
}

/// A hidden CSRF input.
pub fn csrf_input(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"_csrf\" value=\"{}\">", esc(token))
}

/// `<option>`s with one selected.
pub fn options(items: &[(String, String)], selected: &str, blank: Option<&str>) -> String {
    let mut h = String::new();
    if let Some(b) = blank {
        let _ = write!(h, "<option value=\"\">{}</option>", esc(b));
    }
    for (v, l) in items {
        let sel = if v == selected { " selected" } else { "" };
        let _ = write!(h, "<option value=\"{}\"{sel}>{}</option>", esc(v), esc(l));
    }
    h
}

/// A daily bar chart (received, with the resolved part darker) as SVG.
pub fn bars_chart(days: &[(i64, u64, u64)], title: &str) -> String {
    let (w, h, left, bottom) = (620.0, 220.0, 34.0, 24.0);
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1) as f64;
    let n = days.len().max(1) as f64;
    let bw = (w - left - 8.0) / n;
    let y = |v: f64| h - bottom - (h - bottom - 12.0) * v / max;
    let mut s = format!("<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\">", esc(title));
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let yy = y(v);
        let _ = write!(s, "<line x1=\"{left}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e6eaef\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.0}</text>", w - 4.0, left - 4.0, yy + 4.0, v);
    }
    let every = (days.len() / 8).max(1);
    for (i, (day, received, resolved)) in days.iter().enumerate() {
        let x = left + i as f64 * bw + 1.0;
        let bwi = (bw - 2.0).max(1.0);
        let _ = write!(s, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bwi:.1}\" height=\"{:.1}\" fill=\"#9cc3ea\"><title>{} 受理{} 办结{}</title></rect>",
            y(*received as f64), h - bottom - y(*received as f64), short_date(*day), received, resolved);
        let _ = write!(s, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bwi:.1}\" height=\"{:.1}\" fill=\"#1f6fc5\"/>",
            y(*resolved as f64), h - bottom - y(*resolved as f64));
        if i % every == 0 {
            let _ = write!(s, "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>", x + bwi / 2.0, h - 8.0, short_date(*day));
        }
    }
    s.push_str("</svg><div class=\"muted\"><span class=\"tag\" style=\"background:#9cc3ea\">&nbsp;</span> 受理 <span class=\"tag\" style=\"background:#1f6fc5\">&nbsp;</span> 其中已办结</div>");
    s
}

/// Horizontal bars of rates (0..1) per label, as SVG.
pub fn rate_chart(rows: &[(String, Option<f64>, String)], title: &str) -> String {
    let row_h = 22.0;
    let (w, left) = (620.0, 150.0);
    let h = row_h * rows.len().max(1) as f64 + 8.0;
    let mut s = format!("<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\">", esc(title));
    for (i, (label, rate, note)) in rows.iter().enumerate() {
        let y = 4.0 + i as f64 * row_h;
        let r = rate.unwrap_or(0.0).clamp(0.0, 1.0);
        let color = match rate {
            Some(r) if *r >= 0.9 => "#2e9d4f",
            Some(r) if *r >= 0.7 => "#e0a100",
            Some(_) => "#d64545",
            None => "#c3ccd6",
        };
        let bar = (w - left - 120.0) * r;
        let _ = write!(s, "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", left - 6.0, y + 14.0, esc(label));
        let _ = write!(s, "<rect x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"14\" fill=\"#eef2f6\"/>", y + 3.0, w - left - 120.0);
        let _ = write!(s, "<rect x=\"{left}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"14\" fill=\"{color}\"/>", y + 3.0);
        let _ = write!(s, "<text x=\"{:.1}\" y=\"{:.1}\">{} {}</text>", w - 114.0, y + 14.0, pct(*rate), esc(note));
    }
    s.push_str("</svg>");
    s
}

/// A GPS track (lat, lng points per segment) drawn to fit, with visit markers.
pub fn track_chart(segments: &[Vec<(f64, f64)>], marks: &[(f64, f64, String)]) -> String {
    let all: Vec<(f64, f64)> = segments.iter().flatten().copied().chain(marks.iter().map(|m| (m.0, m.1))).collect();
    if all.is_empty() {
        return "<p class=\"muted\">没有轨迹点</p>".into();
    }
    let (w, h, pad) = (620.0, 420.0, 20.0);
    let (mut lat0, mut lat1, mut lng0, mut lng1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (la, ln) in &all {
        lat0 = lat0.min(*la);
        lat1 = lat1.max(*la);
        lng0 = lng0.min(*ln);
        lng1 = lng1.max(*ln);
    }
    // One scale for both axes (so shapes are not distorted), the drawing centred.
    let scale = ((w - 2.0 * pad) / (lng1 - lng0).max(1e-5)).min((h - 2.0 * pad) / (lat1 - lat0).max(1e-5));
    let (ox, oy) = ((w - (lng1 - lng0) * scale) / 2.0, (h - (lat1 - lat0) * scale) / 2.0);
    let px = |ln: f64| ox + (ln - lng0) * scale;
    let py = |la: f64| h - oy - (la - lat0) * scale;
    let mut s = format!("<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"100%\" style=\"background:#f7faf7;border:1px solid #dde3ea\" role=\"img\" aria-label=\"巡查轨迹\">");
    const COLORS: [&str; 6] = ["#1f6fc5", "#7b3fb5", "#0f8a7e", "#b5561f", "#4a5d23", "#a3236b"];
    for (i, seg) in segments.iter().enumerate() {
        let pts: Vec<String> = seg.iter().map(|(la, ln)| format!("{:.1},{:.1}", px(*ln), py(*la))).collect();
        let _ = write!(s, "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2.5\" stroke-linejoin=\"round\"/>", pts.join(" "), COLORS[i % COLORS.len()]);
        if let (Some(a), Some(b)) = (seg.first(), seg.last()) {
            let _ = write!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"#2e9d4f\"><title>起点</title></circle>", px(a.1), py(a.0));
            let _ = write!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"#c62828\"><title>终点</title></circle>", px(b.1), py(b.0));
        }
    }
    for (la, ln, label) in marks {
        let _ = write!(s, "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"8\" height=\"8\" fill=\"#e0a100\"><title>{}</title></rect>", px(*ln) - 4.0, py(*la) - 4.0, esc(label));
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_in_beijing_time() {
        let t = parse_date("2024-05-01").unwrap();
        assert_eq!(t, 1_714_492_800_000);
        assert_eq!(date(t), "2024-05-01");
        assert_eq!(datetime(t + 90 * 60_000), "2024-05-01 01:30");
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(parse_date("x"), None);
    }

    #[test]
    fn csv_cells_never_read_as_formulas_and_keep_their_commas_and_quotes() {
        for (cell, want) in [
            ("=1+2", "'=1+2"),
            ("+86 138", "'+86 138"),
            ("-5", "'-5"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1+2", "'\t=1+2"),
            ("\r=1+2", "\"'\r=1+2\""),
            ("王芳, 502", "\"王芳, 502\""),
            ("说\"好\"", "\"说\"\"好\"\"\""),
            ("13800138000", "13800138000"),
        ] {
            assert_eq!(csv_cell(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(url("a b&c=中"), "a%20b%26c%3D%E4%B8%AD");
    }
}
