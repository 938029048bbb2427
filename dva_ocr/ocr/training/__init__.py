"""Training a CRNN text-line recogniser (PyTorch) and exporting it to the project's ONNX contract.

``synth`` renders labelled text lines with PIL, ``crnn`` is the network, ``data`` turns lines into padded
batches with the recogniser's own preprocessing, ``validation`` scores a model through the engine's
recognition path (:class:`dva_ocr.ocr.lines.LineReader`), ``train`` runs the loop with checkpoints, and
``export`` writes an ONNX file that :class:`dva_ocr.ocr.recognition.TextRecognizer` reads unchanged.

Only ``dva_cli.commands_train`` imports this package (lazily): it needs torch, the ``train`` extra.
"""
