"""Follow-up imports (calls, SMS) from CSV and XLSX files.

``readers`` streams a file's rows, ``rows`` maps its header and validates each row into a record, ``writer``
stores a chunk of records in a handful of set-based statements. The job around them (counts, error report,
resuming) is ``customers.services.imports``.
"""
