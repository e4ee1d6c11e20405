"""What a trained model remembers: the hold metric, memory probes, slow points and portraits."""
