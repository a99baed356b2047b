-- Nothing to do on SQLite: a node signals itself (one node by construction), and
-- another process's write shows as a change of the WAL file. This file keeps the two
-- migration sequences numbered alike (PostgreSQL's 0018 adds its wake-up triggers).
SELECT 1;
