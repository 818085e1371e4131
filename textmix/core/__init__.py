"""The modality-free core: mixer, losses, training methods, calibrators, metrics, selective
prediction, bootstrap intervals, plots and file helpers. Imports torch, numpy, sklearn and
matplotlib only; the engine and the tasks build on it."""
