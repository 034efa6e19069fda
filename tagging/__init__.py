"""Tag taxonomy in two-way sync with WeCom corp tags, auto-tagging rules, segments (issue 5)."""
