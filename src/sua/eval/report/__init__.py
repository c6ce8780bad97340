"""`sua report`: a run's ``results.json`` as a Markdown page, one self-contained HTML page and figures.

One module per job:

- :mod:`~sua.eval.report.schema`: the layout of ``results.json``, shared by the table builder
  (:mod:`sua.eval.reproduce`) and the report, and the checker that reads it back;
- :mod:`~sua.eval.report.paper`: the paper's reported numbers (``sua/eval/paper_numbers.json``);
- :mod:`~sua.eval.report.cells`: the text of a cell (``mean ± std``, the paper's number, ``—``);
- :mod:`~sua.eval.report.glance`: Δ against the paper and the claims section;
- :mod:`~sua.eval.report.markdown`, :mod:`~sua.eval.report.html`: the two pages;
- :mod:`~sua.eval.report.figures`: the PNG figures;
- :mod:`~sua.eval.report.write`: :func:`~sua.eval.report.write.write_report`, which writes them all
  into ``RUN_DIR/report/``.
"""
