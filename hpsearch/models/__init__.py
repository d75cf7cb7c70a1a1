"""Model builders: the searchable CNN family and its ``cifar_cnn`` preset (``_family``), user-written
models (``_user``, with the ``hp`` object of ``_hp``), optimizers and regularizers (``_cnn``),
learning-rate schedules."""
