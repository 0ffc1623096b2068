"""The HTML page: Plotly inline or linked, and data that cannot break out of its script element."""

from __future__ import annotations

from driftloop.report.page import plotly_js_path, render_page


def test_the_report_inlines_plotly_and_the_dashboard_links_it() -> None:
    inline = render_page("report", {"model": "credit"})
    linked = render_page("dash", {"model": "credit"}, plotly_src="/dashboard/assets/plotly.min.js")
    assert plotly_js_path().stat().st_size > 1_000_000
    assert "<script src=" not in inline
    assert len(inline) > plotly_js_path().stat().st_size
    assert '<script src="/dashboard/assets/plotly.min.js"></script>' in linked
    assert len(linked) < 100_000


def test_data_cannot_close_its_script_element_or_fill_a_placeholder() -> None:
    page = render_page("<b>x</b>", {"model": "</script><script>alert(1)</script>", "note": "__PLOTLY__"})
    assert "</script><script>alert(1)" not in page
    assert "<\\/script>" in page
    assert '"note":"__PLOTLY__"' in page  # inserted values are never taken for placeholders
    assert "<title>&lt;b&gt;x&lt;/b&gt;</title>" in page
