"""What the report notebooks show. Each function returns one displayable section (HTML, or a PNG
image that does not depend on the kernel's matplotlib backend), so a notebook only calls and
displays, and the same sections work in JupyterLab, in papermill runs and in the HTML.

``model`` for notebooks/reports/model_report.ipynb, ``dataset`` for dataset_report.ipynb,
``comparison`` for comparison_report.ipynb; ``display`` holds the shared pieces.
"""
