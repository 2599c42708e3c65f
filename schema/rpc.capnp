@0x8a9f3b0fa325a977;
# The RPC interface of taskctld on its Unix socket (/run/taskctl/taskctl.sock).
#
# Each accepted connection gets its own bootstrap `Taskctl`, bound to the
# peer's uid/gid/groups as the kernel reports them (SO_PEERCRED,
# SO_PEERGROUPS). No message carries an identity.
#
# Errors are exceptions whose description is one line for a person:
#   FAILED      rejected input: bad option, unknown queue, unknown or foreign
#               id (a foreign id reads exactly like one that does not exist);
#               a description that starts with "permission denied" is a
#               refusal of the caller's identity
#   OVERLOADED  the store is full or the daemon cannot take work now
# Add fields and methods at the end; never renumber.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("taskctl::rpc");
using Records = import "records.capnp";

struct Label {
  key @0 :Text;
  value @1 :Text;
}

struct SubmitRequest {
  argv @0 :List(Data);
  env @1 :List(Data);     # KEY=VALUE
  cwd @2 :Data;
  umask @3 :UInt32;
  queue @4 :Text;         # empty: "default"
  priority @5 :Int32;     # -100..100, higher first
  labels @6 :List(Label);
  # Limits; 0 means "the queue's default" (which may be none).
  timeoutUsec @7 :UInt64;
  killGraceUsec @8 :UInt64;
  heartbeatUsec @9 :UInt64;
  cpuQuotaPerSecUsec @10 :UInt64;  # 500000: 50% of one CPU
  memoryMaxBytes @11 :UInt64;
  tasksMax @12 :UInt64;
  # Scheduling (DESIGN 6).
  after @13 :List(Records.Dependency);
  # Every id must exist and belong to the caller.
  delayUsec @14 :UInt64;
  # --in: the task waits this long (elapsed time) from the submit.
  notBefore @15 :Int64;
  # --at: realtime ns since the epoch (the client resolved its local time);
  # the task waits until the wall clock reads it. 0: none.
  retry @16 :Records.RetryPolicy;
  key @17 :Text;
  onConflict @18 :Records.KeyConflict;
  requestId @19 :Text;
}

struct AttemptView {
  number @0 :UInt32;
  state @1 :Text;
  reason @2 :Text;
  message @3 :Text;
  exitCode @4 :Int32 = -1;
  signal @5 :Int32;
  startedAt @6 :Int64;    # realtime ns since the epoch; 0 if not yet
  endedAt @7 :Int64;
  shimPid @8 :Int32;
  unit @9 :Text;
  wallUsec @10 :UInt64;
  cpuUserUsec @11 :UInt64;
  cpuSystemUsec @12 :UInt64;
  peakMemoryBytes @13 :UInt64;
  outputTail @14 :Data;
  progress @15 :Float64 = -1;  # -1: never reported
  statusText @16 :Text;
  oomKills @17 :UInt32;
}

struct TaskView {
  id @0 :UInt64;
  uid @1 :UInt32;
  gid @2 :UInt32;
  state @3 :Text;         # waiting queued starting running succeeded failed cancelled retrying
  reason @4 :Text;        # exit signal oom timeout heartbeat lost spawn cancelled dependency, or ""
  message @5 :Text;
  exitStatus @6 :Int32;
  # What `taskctl wait` exits with (DESIGN 8); meaningful once terminal.
  queue @7 :Text;
  priority @8 :Int32;
  argv @9 :List(Data);
  cwd @10 :Data;
  env @11 :List(Data);    # only when asked for (it may hold secrets)
  labels @12 :List(Label);
  createdAt @13 :Int64;
  finishedAt @14 :Int64;
  attempts @15 :List(AttemptView);
  exitCode @16 :Int32 = -1;
  signal @17 :Int32;
  # The limits in force (0: none).
  timeoutUsec @18 :UInt64;
  killGraceUsec @19 :UInt64;
  heartbeatUsec @20 :UInt64;
  cpuQuotaPerSecUsec @21 :UInt64;
  memoryMaxBytes @22 :UInt64;
  tasksMax @23 :UInt64;
  after @24 :List(Records.Dependency);
  notBefore @25 :Int64;       # waiting: not before this realtime ns (0: none)
  nextAttemptAt @26 :Int64;   # retrying: when the next attempt starts
  retry @27 :Records.RetryPolicy;
  key @28 :Text;
  requestId @29 :Text;
  pruned @30 :Bool;
  # Only a tombstone is left (retention): id, uid, queue, state, reason,
  # exit status, exit code, signal and finishedAt are set; the rest is empty.
  waitingFor @31 :Text;
  # waiting: what it waits for, for a person ("task 12 to succeed", "03:00").
}

struct ListFilter {
  state @0 :Text;         # empty: any
  queue @1 :Text;         # empty: any
  labels @2 :List(Label); # every one must match (key and value)
  allUsers @3 :Bool;      # root and the admin group: everyone's; others: ignored
}

struct QueueView {
  name @0 :Text;
  concurrency @1 :UInt32;
  concurrencyFromConfig @2 :Bool;  # false: set at run time (`queue set`)
  running @3 :UInt32;              # starting + running
  queued @4 :UInt32;
  waiting @5 :UInt32;              # waiting or retrying
  paused @6 :Bool;
  pausedReason @7 :Text;
}

interface Taskctl {
  submit @0 (request :SubmitRequest) -> (id :UInt64);
  # Answers once the task is durably stored.

  status @1 (id :UInt64, withEnv :Bool) -> (task :TaskView);

  list @2 (filter :ListFilter) -> (tasks :List(TaskView));
  # The caller's tasks (all tasks for root and the admin group), by id.

  wait @3 (id :UInt64) -> (task :TaskView);
  # Resolves when the task is terminal.

  cancel @4 (id :UInt64) -> (task :TaskView);

  logs @5 (id :UInt64, attempt :UInt32, offset :UInt64, maxBytes :UInt32, follow :Bool)
       -> (data :Data, nextOffset :UInt64, attempt :UInt32, ended :Bool);
  # A slice of an attempt's output (attempt 0: the latest). `ended`: the
  # attempt is over and `data` reaches the end of its log. With `follow`, a
  # call that has nothing to return yet waits until there is output or the
  # attempt ends (no polling: the client calls again with nextOffset).
  # If the log was cut (logs.max_bytes) below `offset`, reading restarts at 0,
  # where the cut is marked.

  queueList @6 () -> (queues :List(QueueView));

  queueSet @7 (name :Text, concurrency :UInt32, useDefault :Bool) -> (queue :QueueView);
  # Root and the admin group only. `useDefault`: back to the TOML's value.
  # Takes effect at once and persists across restarts.

  queuePause @8 (name :Text, paused :Bool) -> (queue :QueueView);
  # Root and the admin group only. Paused: running work continues, nothing
  # new starts. Persists across restarts.
}
