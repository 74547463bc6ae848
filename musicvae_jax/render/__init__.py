"""What a person looks at or listens to: piano-roll PNGs (and, later, audio)."""
