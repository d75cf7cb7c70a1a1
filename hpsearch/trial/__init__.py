"""One trial: gather its resume state, build, fit with callbacks, store its artifacts, outcome.

Modules, in the order a trial uses them: ``_resume`` (:func:`gather_resume`: everything an
attempt takes over from the one before it, in one step), ``_runner`` (:class:`TrialRunner`),
``_assemble`` (the callbacks of one ``fit``, in order), ``callbacks/`` (one concern each),
``_checkpoints`` (the trial's checkpoint folder), ``_artifacts`` (verify and store its files),
``_plots``, ``_outcome``.
"""
