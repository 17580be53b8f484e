"""Real-browser tests: JupyterLab 4 and Notebook 7 pages driven by Playwright in Debian's Chromium."""
