"""The register of designated factories: the file staff keep, and what is stored of it."""
