"""Hook subscribers that keep WeCom-sourced tag assignments in step with follow relations (being written)."""
