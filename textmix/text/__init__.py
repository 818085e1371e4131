"""The text task: MR / TREC / IMDB / your files, GloVe through gensim, the Kim CNN and Hugging Face
transformers, text OOD sets, calibrated prediction and Hub sharing. Registered with the engine as
``task: text`` (the ``textmix.tasks`` entry point)."""
