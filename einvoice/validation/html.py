"""Placeholder HTML rendering (replaced below)."""
def render_reports(reports):
    return "<html></html>"
