"""MusiCoder around the shared machinery: its labelled tasks and split files (``tasks``),
fine-tuning and probing (``finetune``), the composer corpus and the baselines it is judged by."""
