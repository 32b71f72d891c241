"""The foundation every stage may use: the one error type, atomic writes, archives, files read as text, progress, training settings."""
