"""End-to-end tests: a real `cdp serve` process driven by headless Chromium (Playwright)."""
