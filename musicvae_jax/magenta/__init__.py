"""Reading Magenta's published TensorFlow checkpoints without TensorFlow."""
