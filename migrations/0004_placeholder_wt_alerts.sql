-- PLACEHOLDER on branch wt-obs only, so that 0006 applies without a gap.
-- At merge, delete this file: wt-alerts' 0004 takes its number.
SELECT 1;
