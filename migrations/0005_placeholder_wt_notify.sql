-- PLACEHOLDER on branch wt-obs only, so that 0006 applies without a gap.
-- At merge, delete this file: wt-notify's 0005 takes its number.
SELECT 1;
