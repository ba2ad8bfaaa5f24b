"""What readers see: figures, dates and source lines in words, reader tables, house-style charts.

Modules:
  ``formatting``  the one formatter: figures with qualifier marks, dates, source notes
  ``tables``      :class:`~analysis.present.tables.ReaderTable` and one table per dataset
  ``charts``      house-style matplotlib Figures, one module per chart kind

Nothing here loads data: each function receives the DataFrames it shows, the ``sources``
dataset among them, from the caller (a notebook that opened the Package).
"""
