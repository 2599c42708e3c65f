@0xfb2a7fcf3af98119;
# Stored records of taskctld. Every struct here is written to disk (LMDB, or a
# shim's result file) and read back by later versions: add fields at the end
# with the next number, never renumber, never change a field's type.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("taskctl::records");
using Spec = import "task-spec.capnp";
# Label, Dependency, RetryPolicy, KeyConflict and TaskLimits are public (the
# RPC carries them too) and live there; on disk they are the same bytes as
# when they were defined here.

const formatVersion :UInt32 = 4;
# The store's on-disk format. A daemon refuses a store whose meta says more.
# 2: dependencies, delays, retries, keys, request ids, queue settings,
#    retention (tombstones).
# 3: every stored value ends in a CRC32C of its key and payload, verified on
#    every read. Older stores are read, verified and upgraded in place.
# 4: a task's limits in `Task.limits` (TaskLimits), no longer in its flat
#    fields 19-24 (the upgrade moves them and zeroes those); no `ready` index
#    (the upgrade drops it: nothing read it).

struct Meta {
  formatVersion @0 :UInt32;
  nextId @1 :UInt64;
  # Never reused: every stored task id is below it.
  drained @2 :Bool;
  # `taskctl drain`: no queue starts anything until `undrain`. Here, not in
  # a record of its own: one daemon-wide setting in the one daemon-wide
  # record, written in the same transaction as its event; read at open,
  # before recovery, so a restarted daemon never starts a task first. No
  # format bump: an older meta reads as false, which it meant.
  drainedBy @3 :UInt32;   # the uid that drained it
  drainedAt @4 :Int64;    # realtime ns since the epoch
}

enum TaskState {
  waiting @0;
  queued @1;
  starting @2;
  running @3;
  succeeded @4;
  failed @5;
  cancelled @6;
  retrying @7;
  paused @8;       # `pause`: its running execution is frozen until `resume`
}

enum EndReason {
  none @0;
  exit @1;       # the command exited (code in exitCode)
  signal @2;     # killed by a signal (in signal)
  oom @3;
  timeout @4;
  heartbeat @5;
  lost @6;       # the execution vanished with no result
  spawn @7;      # the command could not be started
  cancelled @8;  # cancelled by a user
  dependency @9;
  notStarted @10; # the shim never ran the command: the task went back to the queue
  preempted @11;  # (an attempt) Slurm preempted its job: run again, not counted as a retry
}

struct Task {
  id @0 :UInt64;
  uid @1 :UInt32;
  gid @2 :UInt32;
  groups @3 :List(UInt32);
  argv @4 :List(Data);
  env @5 :List(Data);
  # KEY=VALUE entries, as the client sent them (already cleaned, DESIGN 8).
  cwd @6 :Data;
  umask @7 :UInt32;
  queue @8 :Text;
  priority @9 :Int32;
  labels @10 :List(Spec.Label);
  createdAt @11 :Int64;   # realtime, ns since the epoch
  finishedAt @12 :Int64;
  state @13 :TaskState;
  attempts @14 :UInt32;
  # Attempts begun so far; the next one gets attempts + 1. Never reused.
  reason @15 :EndReason;
  message @16 :Text;      # a reason a person can read
  exitCode @17 :Int32 = -1;
  signal @18 :Int32;
  # Limits, resolved at submit, in stores of format 3 and older; a store of
  # format 4 keeps them in `limits` (the upgrade moves them there and zeroes
  # these). Read only by that upgrade.
  timeoutUsec @19 :UInt64;
  killGraceUsec @20 :UInt64;       # 0: the default, 10 s
  heartbeatUsec @21 :UInt64;
  cpuQuotaPerSecUsec @22 :UInt64;  # CPU time per second of wall time: 500000 is 50%
  memoryMaxBytes @23 :UInt64;
  tasksMax @24 :UInt64;
  # Scheduling (DESIGN 6).
  after @25 :List(Spec.Dependency);
  notBefore @26 :Int64;
  # Realtime ns since the epoch; 0: none. The task waits until then.
  notBeforeWall @27 :Bool;
  # true (--at): follows the wall clock across clock steps; false (--in):
  # follows elapsed time.
  retry @28 :Spec.RetryPolicy;
  nextAttemptAt @29 :Int64;
  # While `retrying`: realtime ns of the next attempt.
  key @30 :Text;
  # Unique key (per owner): at most one active task holds it.
  onConflict @31 :Spec.KeyConflict;
  keyWaitsFor @32 :UInt64;
  # With a key: the earlier task holding it that this one waits behind (0: none).
  requestId @33 :Text;
  limits @34 :Spec.TaskLimits;
  # Resolved at submit (the option, else the queue's default; 0: none; a kill
  # grace is stored as in force). Format 4 on.
  held @35 :Bool;
  # `hold`, `submit --hold`: never dispatched until `release`. Stays
  # `waiting` (a held `retrying` task stays so until its backoff ends). No
  # format bump: an older record reads as false, which it meant.
  rerunOf @36 :UInt64;
  # `taskctl rerun`: the task this one was made from (0: none).
  # (A retry that grows a limit (RetryPolicy.memoryGrowFactor,
  # timeoutGrowFactor) raises `limits` for the attempts that follow; each
  # Attempt records the limits it ran with.)
  limitsUpdatedAt @37 :Int64;
  # `taskctl update`: when the limits were last changed (realtime ns; 0: never).
  limitsUpdatedBy @38 :UInt32;
  # The uid that last changed them.
  editedAt @39 :Int64;
  # `taskctl edit`: when the task was last edited (realtime ns; 0: never).
  uncountedAttempts @40 :UInt32;
  # Attempts that do not count against retry.retries: a Slurm job preempted
  # before it ended is run again as a new attempt at no cost to the task.
}

struct Tombstone {
  # What stays of a pruned task for retention.tombstone_age: enough for a late
  # `wait` to exit as the task did.
  id @0 :UInt64;
  uid @1 :UInt32;
  state @2 :TaskState;
  reason @3 :EndReason;
  exitCode @4 :Int32 = -1;
  signal @5 :Int32;
  finishedAt @6 :Int64;
  queue @7 :Text;
}

struct RequestMapping {
  # (uid, request id) -> the task the first submit created, for 24 h.
  taskId @0 :UInt64;
  createdAt @1 :Int64;
}

struct QueueSettings {
  # Made at run time (`taskctl queue set/pause`); win over the TOML.
  name @0 :Text;
  hasConcurrency @1 :Bool;  # false: the TOML's concurrency
  concurrency @2 :UInt32;
  paused @3 :Bool;
  pausedReason @4 :Text;    # who paused it, or the failure that did
}

struct Attempt {
  taskId @0 :UInt64;
  number @1 :UInt32;
  state @2 :TaskState;
  unit @3 :Text;          # taskctl-<id>-<n>.scope; empty under the direct runner
  shimPid @4 :Int32;
  shimStartTime @5 :UInt64;  # /proc/<pid>/stat field 22, to never adopt a reused pid
  bootId @6 :Text;
  startedAt @7 :Int64;
  endedAt @8 :Int64;
  reason @9 :EndReason;
  exitCode @10 :Int32 = -1;
  signal @11 :Int32;
  message @12 :Text;
  outputTail @13 :Data;
  wallUsec @14 :UInt64;
  cpuUserUsec @15 :UInt64;
  cpuSystemUsec @16 :UInt64;
  peakMemoryBytes @17 :UInt64;
  progress @18 :Float64 = -1;  # last reported, 0..1; -1: never reported
  statusText @19 :Text;        # last STATUS= the task sent
  oomKills @20 :UInt32;
  notifySocket @21 :Text;      # the attempt's NOTIFY_SOCKET ("" if none)
  # The limits this attempt runs with (the task's at its start; a retry may
  # have grown them, RetryPolicy). 0: an attempt from before these fields
  # (the task's limits apply), or no limit.
  timeoutUsec @22 :UInt64;
  memoryMaxBytes @23 :UInt64;
  # `pause`: the current pause's start (realtime ns; 0: not paused), and the
  # time of the pauses that ended. The timeout counts only running time:
  # now - startedAt - pausedUsec (- now - pausedAt while paused).
  pausedAt @24 :Int64;
  pausedUsec @25 :UInt64;
  extendedTimeoutUsec @26 :UInt64;
  # The attempt's timeout from its start once the task's own
  # EXTEND_TIMEOUT_USEC= raised it past timeoutUsec (0: not raised). Stored,
  # so a daemon restart keeps the extension.
  # An attempt of a Slurm queue (DESIGN 12, docs/slurm.md): its batch job,
  # committed before the job is released (the job's "go"); the node it ran
  # on, once seen; and the queue's shared_dir at its start, under which its
  # run files (runs/<id>-<n>/) and log (logs/<id>-<n>.log) are. 0 and "":
  # an attempt of the daemon's own runner.
  slurmJobId @27 :UInt64;
  slurmNode @28 :Text;
  sharedDir @29 :Text;
}

struct ExecSpec {
  # What the daemon hands taskctl-exec (through a memfd): the command and the
  # identity to run it as. Not stored; versioned with the shim.
  taskId @0 :UInt64;
  attempt @1 :UInt32;
  uid @2 :UInt32;
  gid @3 :UInt32;
  groups @4 :List(UInt32);
  argv @5 :List(Data);
  env @6 :List(Data);     # final environment, TASKCTL_* included
  cwd @7 :Data;
  umask @8 :UInt32;
  logPath @9 :Text;
  resultPath @10 :Text;   # written atomically: temp, fsync, rename, fsync dir
  dropPrivileges @11 :Bool;
  logMaxBytes @12 :UInt64;
  # The log's cap (0: none). Past it the shim drops the oldest part and marks
  # the cut, so a noisy task cannot fill the disk under the store.
  logMinFreeBytes @13 :UInt64;
  # logs.min_free_bytes (0: none). While the log's filesystem has less free
  # space than this, output is dropped (and the drop marked) instead of
  # written: a disk filled by output leaves room for the store and results.
  nofileSoftLimit @14 :UInt64;
  # The soft RLIMIT_NOFILE the command starts with (0: the shim's own). The
  # daemon raises its own soft limit for its connections; this is the one
  # it started with, so tasks see what they always saw.
}

const resultVersion :UInt32 = 1;

struct ExecResult {
  # Written by taskctl-exec before it exits; ingested by the daemon by
  # (taskId, attempt). A daemon reads every version up to its own.
  version @0 :UInt32;
  taskId @1 :UInt64;
  attempt @2 :UInt32;
  notStarted @3 :Bool;
  # The go fd closed unwritten: no user code ran.
  spawnFailed @4 :Bool;
  # The command could not be started; exitCode is 126 or 127, message says why.
  exitCode @5 :Int32 = -1;
  signal @6 :Int32;
  message @7 :Text;
  startedAt @8 :Int64;
  endedAt @9 :Int64;
  cpuUserUsec @10 :UInt64;
  cpuSystemUsec @11 :UInt64;
  peakMemoryBytes @12 :UInt64;
  oomKills @13 :UInt32;
}

struct Event {
  # One state change of one task (DESIGN 6, "Events"), stored in the same
  # transaction as the change, in a bounded log a watcher resumes from.
  seq @0 :UInt64;         # dense and increasing, also across restarts
  taskId @1 :UInt64;
  uid @2 :UInt32;
  queue @3 :Text;
  from @4 :TaskState;
  created @5 :Bool;       # the task was just submitted: `from` means nothing
  to @6 :TaskState;
  attempt @7 :UInt32;     # the attempt the change belongs to (0: none yet)
  reason @8 :EndReason;   # why it ended, for terminal and retrying states
  at @9 :Int64;           # realtime ns since the epoch
  action @10 :Text;
  # What a user did that is not (only) a state change: "held", "released",
  # "edited", "paused", "resumed" (with the state change to and from `paused`);
  # "" for a plain state change. With an action `from` may equal `to`.
}
