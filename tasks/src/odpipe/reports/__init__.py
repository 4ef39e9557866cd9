"""Self-contained HTML reports (dataset, evaluation, model) that Argo's UI shows as artifacts.

Each report is one HTML file with its images inline as data URIs, no script and nothing fetched from a
network. Building a report never fails the step that writes it: see `odpipe.reports.write`.
"""
