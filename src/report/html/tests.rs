use super::*;
use crate::report::fixtures::{invalid_input_run, mixed_run, setup_error_run};

/// The values of `attribute="..."` in `html`, in order.
fn values<'a>(html: &'a str, attribute: &str) -> Vec<&'a str> {
    let marker = format!(" {attribute}=\"");
    html.match_indices(&marker)
        .map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

#[test]
fn the_html_report_of_a_fixed_run() {
    insta::assert_snapshot!(render(&mixed_run()));
}

#[test]
fn the_html_report_of_runs_that_could_not_start() {
    insta::assert_snapshot!(format!(
        "{}\n---\n{}",
        render(&setup_error_run()),
        render(&invalid_input_run())
    ));
}

#[test]
fn the_page_loads_nothing_from_anywhere() {
    for (html, links) in [
        (render(&mixed_run()), true),
        (render(&setup_error_run()), false),
    ] {
        for forbidden in ["src=", "<link", "<script", "url(", "@import", "<iframe"] {
            assert!(!html.contains(forbidden), "{forbidden} in\n{html}");
        }
        let hrefs = values(&html, "href");
        assert_eq!(!hrefs.is_empty(), links);
        for href in hrefs {
            assert!(href.starts_with('#'), "{href}");
        }
    }
}

#[test]
fn every_cell_links_to_the_evidence_of_its_probe() {
    let run = mixed_run();
    let html = render(&run);
    let ids = values(&html, "id");
    let probes: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| id.starts_with("probe-"))
        .collect();
    let count: usize = run.scenarios.iter().map(|s| s.probes.len()).sum();
    assert_eq!(probes.len(), count);
    for href in values(&html, "href") {
        assert!(ids.contains(&&href[1..]), "{href} points nowhere");
    }
    let cells = html.matches("<a class=\"").count();
    assert_eq!(cells, count, "one grid cell link per probe");
    // The named failing probe is the run's first: its cell says what it saw, marked.
    assert!(
        html.contains(
            "<a class=\"fail\" href=\"#probe-1\" title=\"fail: expected deny (drop), observed \
             connected: not blocked\">✗ allow</a>"
        ),
        "{html}"
    );
    assert!(html.contains("<td class=\"none\" title=\"no probe\">—</td>"));
    assert_eq!(html.matches("<table class=\"grid\">").count(), 9);
}

#[test]
fn hostile_tool_output_is_escaped_and_keeps_its_whitespace() {
    let mut run = mixed_run();
    let probe = &mut run.scenarios[0].probes[0];
    probe.output = "</pre><script>alert(1)</script>\n\ta & b <img src=x>\u{1b}[31m\r".to_owned();
    probe.command = "curl 'http://x/?a=1&b=<2>' \"q\"".to_owned();
    run.scenarios[0].name = "<b>shop</b>".to_owned();
    let html = render(&run);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<b>shop"), "{html}");
    assert!(html.contains(
        "<pre class=\"output\">&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;\n\ta &amp; b \
         &lt;img src=x&gt;\\u{1b}[31m\\u{d}</pre>"
    ));
    assert!(html.contains(
        "<pre class=\"command\">curl &#39;http://x/?a=1&amp;b=&lt;2&gt;&#39; &quot;q&quot;</pre>"
    ));
    assert!(html.contains("&lt;b&gt;shop&lt;/b&gt;"));
}

#[test]
fn the_page_shows_why_a_run_could_not_start() {
    let html = render(&setup_error_run());
    assert!(html.contains("<h2>The run could not complete</h2>"));
    assert!(html.contains("back-off pulling image &quot;netverdict:0&quot;\n  events:\tFailed"));
    let html = render(&invalid_input_run());
    assert!(html.contains("invalid input, 2 errors</h1>"), "{html}");
    assert!(html.contains(
        "<tr><td><code>scenarios/shop.yaml:11:7</code></td><td><code>spec.probes[1]</code></td>"
    ));
    assert!(!html.contains("class=\"grid\""));
}
