"""The rank index: each ladder's board in Redis (`store`), its encoding (`entries`), and
how it is kept equal to Postgres (`sync`)."""
