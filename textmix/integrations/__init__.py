"""textmix inside other tools: :mod:`textmix.integrations.transformers` (``transformers.Trainer``)."""
