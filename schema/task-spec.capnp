@0xb13426f1b5b6edf9;
# A task as it is asked for: the command, how and where it runs, its limits
# and its scheduling. Public, like rpc.capnp: a client's `submit`, a
# schedule's template and the daemon's checks all read this one struct, and
# the store keeps a task's limits as the TaskLimits below. The constants are
# the contract both sides check against; a daemon refuses what breaks them
# with a FAILED exception that says which.
#
# Add fields at the end with the next number; never renumber, never change a
# field's type.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("taskctl::spec");

const minPriority :Int32 = -100;
const maxPriority :Int32 = 100;          # higher first
const maxRetries :UInt32 = 1000;
const maxRetryExitCodes :UInt32 = 255;   # each of 1..255 once
const maxDependencies :UInt32 = 1000;
const maxKeyBytes :UInt32 = 256;         # unique keys and request ids
const maxLabels :UInt32 = 64;
const maxLabelKeyBytes :UInt32 = 128;
const maxLabelValueBytes :UInt32 = 1024;
const maxQueueNameBytes :UInt32 = 256;
const maxCwdBytes :UInt32 = 4095;        # PATH_MAX with its NUL
const maxCommandBytes :UInt32 = 1048576; # argv + env of one task
const maxGrowFactor :Float64 = 100;   # RetryPolicy's memory and timeout growth
const maxKillGraceUsec :UInt64 = 3600000000;
const defaultKillGraceUsec :UInt64 = 10000000;
# Between SIGTERM and SIGKILL when a task is stopped (cancel, timeout, a
# missed heartbeat), unless the task or its queue says otherwise.

struct Label {
  key @0 :Text;
  value @1 :Text;
}

enum DependencyCondition {
  ok @0;      # the dependency succeeded
  any @1;     # it ended, however
  failed @2;  # it failed or was cancelled
}

struct Dependency {
  id @0 :UInt64;
  condition @1 :DependencyCondition;
}

struct RetryPolicy {
  retries @0 :UInt32;           # further attempts allowed after the first (0..maxRetries)
  # With retries > 0 and none of the on* set, the daemon retries after a
  # non-zero exit, a timeout and a missed heartbeat (DESIGN 6); signals,
  # memory kills and lost executions only when asked for.
  onExit @1 :Bool;
  exitCodes @2 :List(Int32);    # with onExit: empty means any non-zero code
  onSignal @3 :Bool;
  onOom @4 :Bool;
  onTimeout @5 :Bool;
  onHeartbeat @6 :Bool;
  onLost @7 :Bool;
  backoffBaseUsec @8 :UInt64;   # 0: 1 s
  backoffMaxUsec @9 :UInt64;    # 0: 10 min
  # Retries that raise a limit (issue 16): each retry of an attempt killed
  # for memory (resp. timed out) runs with the previous attempt's memory
  # limit (resp. timeout) times the factor, capped by the maximum. Here and
  # not in TaskLimits: they act only on a retry, follow the on* above (a
  # factor without onOom, resp. onTimeout, is refused), and TaskLimits stays
  # the flat limits in force. A factor is > 1 and at most maxGrowFactor
  # (0: no growth); a maximum is not below the limit (0: none but the
  # limit's own bounds). Each attempt records the limits it ran with.
  memoryGrowFactor @10 :Float64;
  memoryGrowMaxBytes @11 :UInt64;
  timeoutGrowFactor @12 :Float64;
  timeoutGrowMaxUsec @13 :UInt64;
}

enum KeyConflict {
  queue @0;    # wait behind the holder
  skip @1;     # answer with the holder's id, create nothing
  replace @2;  # cancel the holder, then run
}

struct TaskLimits {
  # 0 in a request: the queue's default (which may be none). In a stored
  # task or a TaskView: the limit in force, 0 for none.
  timeoutUsec @0 :UInt64;
  killGraceUsec @1 :UInt64;       # up to maxKillGraceUsec; 0 in force: defaultKillGraceUsec
  heartbeatUsec @2 :UInt64;
  cpuQuotaPerSecUsec @3 :UInt64;  # CPU time per second of wall time: 500000 is 50% of one CPU
  memoryMaxBytes @4 :UInt64;
  tasksMax @5 :UInt64;
}

struct TaskSpec {
  argv @0 :List(Data);          # argv[0] is looked up in the task's PATH
  env @1 :List(Data);           # KEY=VALUE; the daemon drops a few (DESIGN 8)
  cwd @2 :Data;                 # absolute
  umask @3 :UInt32;
  queue @4 :Text;               # empty: "default"
  priority @5 :Int32;           # minPriority..maxPriority
  labels @6 :List(Label);
  limits @7 :TaskLimits;
  # Scheduling (DESIGN 6).
  after @8 :List(Dependency);
  # Every id must exist and belong to the caller.
  delayUsec @9 :UInt64;
  # --in: the task waits this long (elapsed time) from the submit.
  notBefore @10 :Int64;
  # --at: realtime ns since the epoch (the client resolved its local time);
  # the task waits until the wall clock reads it. 0: none.
  retry @11 :RetryPolicy;
  key @12 :Text;                # at most one active task of the owner holds it
  onConflict @13 :KeyConflict;
  requestId @14 :Text;          # a retried submit with the same id creates nothing new (24 h)
  hold @15 :Bool;               # --hold: submitted held (`waiting`, never dispatched until `release`)
}
