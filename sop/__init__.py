"""SOP engine: scheduled pushes to groups and customers under hard caps. Nothing imports sop."""
