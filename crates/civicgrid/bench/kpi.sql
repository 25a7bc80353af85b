-- The baseline of `civicgrid bench kpi`: the case indicators that plain SQL
-- computes from the `cases` summary rows (and the event log where the summary
-- holds nothing), per community, run by the sqlite3 shell:
--
--   sqlite3 -readonly -cmd ".parameter set @from '…'" -cmd ".parameter set @to '…'" \
--           -cmd ".parameter set @now '…'" FILE < crates/civicgrid/bench/kpi.sql
--
-- @from and @to are the period [from, to), @now the time "overdue" is judged
-- at, all written as the store writes times ('2026-01-01T00:00:00.000000Z').
-- As in `kpi::compute`, only cases reported before @to count.
--
-- The same definitions as `civicgrid_domain::kpi`, for what it covers:
-- - cases reported in the period by source, by category (uncategorised left
--   out) and by current state;
-- - cases whose current closure falls in the period: how many, how many were
--   ever returned or reopened (rework), self-handled (not reopened since),
--   rated (the rating after the last reopening) and their mean rating;
-- - open cases whose running step is past its deadline at @now.
--
-- What it does NOT compute: on-time filing, on-time dispatch, on-time closure
-- and the working time each step took. Those need every step of every
-- history measured on the working-hours calendar (holidays, adjusted working
-- days, the working periods of a day, deferrals that stop the clock), which
-- is most of the work `kpi::compute` does per case; the summary row keeps
-- only the deadline of the step running now. So this query does less than
-- ours, and the ratio is an upper bound of what the domain's one definition
-- costs over hand-written SQL.
--
-- Output, one line each: section|community|key|value[|value …]

.mode list
.separator |

SELECT 'source', community_code, source, count(*)
FROM cases
WHERE created_at >= @from AND created_at < @to
GROUP BY community_code, source;

SELECT 'category', community_code, category, count(*)
FROM cases
WHERE created_at >= @from AND created_at < @to AND category <> ''
GROUP BY community_code, category;

SELECT 'state', community_code, state, count(*)
FROM cases
WHERE created_at >= @from AND created_at < @to
GROUP BY community_code, state;

-- closed|community|closed|reworked|self-handled|rated|mean rating
WITH closed AS (
    SELECT c.id, c.community_code
    FROM cases c
    WHERE c.closed_at >= @from AND c.closed_at < @to AND c.created_at < @to
),
flags AS (
    SELECT
        community_code,
        EXISTS (
            SELECT 1 FROM case_events e
            WHERE e.case_id = closed.id
              AND (e.kind = 'reopen' OR (e.kind = 'approve' AND json_extract(e.data, '$.request') = 'return'))
        ) AS rework,
        EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = closed.id AND e.kind = 'self_handle')
            AND NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = closed.id AND e.kind = 'reopen')
            AS self_handled,
        (
            SELECT json_extract(e.data, '$.satisfaction')
            FROM case_events e
            WHERE e.case_id = closed.id AND e.kind = 'evaluate'
              AND NOT EXISTS (
                  SELECT 1 FROM case_events r WHERE r.case_id = e.case_id AND r.kind = 'reopen' AND r.seq > e.seq
              )
            ORDER BY e.seq DESC
            LIMIT 1
        ) AS satisfaction
    FROM closed
)
SELECT 'closed', community_code, count(*), sum(rework), sum(self_handled), count(satisfaction), avg(satisfaction)
FROM flags
GROUP BY community_code;

SELECT 'overdue', community_code, count(*)
FROM cases
WHERE created_at < @to
  AND state NOT IN ('voided', 'merged', 'closed', 'evaluated')
  AND step_deadline < @now
GROUP BY community_code;
