"""The amorphous Li-conductor campaign's science (pure: never opens a store).

- :mod:`.features`: design matrices of the diffusivity table.
- :mod:`.forest`, :mod:`.boost`: random forest and XGBoost for D and ln D, saved
  as plain arrays / XGBoost JSON (no pickles).
- :mod:`.evaluate`: the authors' 85/15 split, random and grouped 5-fold CV.
- :mod:`.sisso`: SISSO-style sparse descriptors for ln D.
- :mod:`.msd`, :mod:`.arrhenius`: D from the Li mean squared displacement, and
  the activation energy over temperatures.
- :mod:`.packing`, :mod:`.segment`, :mod:`.meltquench`: the surrogate
  melt-quench MD with an ML potential through atomate2's force-field MD maker.
- :mod:`.descriptors`, :mod:`.predict`, :mod:`.documents`: the SISSO protocol,
  predictions from stored models, the documents of models and MD runs.
"""
