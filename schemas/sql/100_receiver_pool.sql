-- 100: a pool of receivers (issue 15).  disks.receiver is the receiver
-- (HOST:PORT as the sources reach it) a disk replicates to.  Sticky: set
-- once, when the disk's first sync picks the least-loaded receiver of
-- repl.receivers that has room; the disk's replica lives there, so a later
-- sync never moves it (a receiver that is down makes its disks wait).
ALTER TABLE disks ADD COLUMN receiver text NOT NULL DEFAULT '';
CREATE INDEX disks_receiver ON disks (receiver) WHERE receiver <> '';
