"""Hook subscribers that re-evaluate auto-tagging rules when customers change (being written)."""
