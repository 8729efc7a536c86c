"""The HTML report: frames, figures and the page built from run results."""
