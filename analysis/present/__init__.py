"""What readers see: figures, dates and source lines in words, reader tables, house-style charts.

Modules:
  ``formatting``  the one formatter: figures with qualifier marks, dates, source notes
  ``reader``      :class:`~analysis.present.reader.ReaderTable`, a table for readers, and ``reader_table``
  ``tables``      one reader table per dataset or question (re-exports the two above and below)
  ``history_tables``  where sources differ, who backs each figure, a company's dated history
  ``charts``      house-style matplotlib Figures, one module per chart kind

Nothing here loads data: each function receives the DataFrames it shows, the ``sources``
dataset among them, from the caller (a notebook that opened the Package).
"""
