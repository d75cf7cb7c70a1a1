"""Reading results: rankings, tables, report, export, consistency checks."""
