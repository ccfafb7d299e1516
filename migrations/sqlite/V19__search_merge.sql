-- How FTS5 merges the search index's segments. The engine adds new alerts to the index in
-- small batches, each a new segment; by default FTS5 merges every 4 segments of a level
-- (automerge) and merges a level at once when it reaches 16 (crisismerge). In an alert storm
-- that merging took about a fifth of the writer thread's time. Merging 16 at a time rewrites
-- each alert's entry about half as often, and with crisismerge at 64 the merges stay
-- incremental instead of one long write now and then: 16,300 against 14,200 new alerts/s and
-- p99 11 ms against 15 ms (../shared/bench/intake-wrk.sh). Searches read more segments: a
-- first page over 125,000 alerts took 0.8-3 ms instead of 0.4-1 ms.
INSERT INTO alerts_fts (alerts_fts, rank) VALUES ('automerge', 16);
INSERT INTO alerts_fts (alerts_fts, rank) VALUES ('crisismerge', 64);
