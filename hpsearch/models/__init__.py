"""Model builders: the classic CNN (``_cnn``), the searchable CNN family (``_family``), user-written
models (``_user``, with the ``hp`` object of ``_hp``), optimizers, regularizers, learning-rate schedules."""
