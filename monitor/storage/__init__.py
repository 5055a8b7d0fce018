"""Storage: the engine, the tables, the schema revision and its migrations."""
