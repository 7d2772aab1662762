"""CSV that is safe to open in a spreadsheet. Every CSV the platform exports is written
through `csv_writer`: a text cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage
return would be read as a formula (`=HYPERLINK(…)`, `+cmd|' /C calc'!A0`), so it gets a
leading single quote, as OWASP's "CSV Injection" advice says. Numbers are written as they are.
"""

from __future__ import annotations

import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """One cell, neutralised when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeCsvWriter:
    """`csv.writer` whose rows pass through `csv_cell`."""

    def __init__(self, stream, **options):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row):
        return self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def csv_writer(stream, **options) -> SafeCsvWriter:
    return SafeCsvWriter(stream, **options)
