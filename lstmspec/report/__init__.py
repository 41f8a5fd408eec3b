"""Report writers: terminal, Markdown, JSON, JUnit XML."""
