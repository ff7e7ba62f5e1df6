"""Batch analysis of station archives: ``python -m archive {analyze,network,skill}`` (docs/archive.md).

* ``analyze INPUT --out OUT``: every station file under INPUT through the window pipeline that ``POST /analyze``
  runs (:mod:`model_store.pipeline`), one Dask task per file (:mod:`archive.task`), then a cheap second pass per
  station that judges each window against a rolling baseline made from the station's own preceding days
  (:mod:`archive.rolling`); written as a Parquet dataset partitioned by station and year (:mod:`archive.tables`),
  with a manifest that makes a rerun resume (:mod:`archive.store`, :mod:`archive.runner`).
* ``network OUT``: coincident detections across stations -> source fixes and magnitudes
  (:func:`model_store.network.network_window`), a candidate-source table (:mod:`archive.network`).
* ``skill OUT --catalog CSV``: the alarms against an earthquake catalogue (:mod:`model_store.skill`): Molchan
  diagram, area skill score, probability gain, controls (:mod:`archive.skill`).

This package imports ``model_store`` and never ``app`` or ``training``.
"""
