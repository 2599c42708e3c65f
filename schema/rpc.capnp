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
using Spec = import "task-spec.capnp";
# The public schema imports only the public task spec, never the stored records.

const schemaRevision :UInt32 = 6;
# Bumped whenever a method, a field or an enumerant is added to this file or
# to task-spec.capnp (nothing is ever removed or renumbered). 1: every schema
# before Taskctl.version existed. 2: version(); Watcher.events and .progress
# return () rather than `-> stream` (the same wire). 3: hold(), TaskSpec.hold,
# TaskView.held, EventView.action. 4: rerun(), TaskView.rerunOf, AttemptView's
# limits, RetryPolicy's growth fields. 5: edit(), drain(), pause(), update();
# TaskView.editedAt, pausedUsec, pausedAt, limitsUpdatedAt/By; QueueView.drained;
# the state `paused`; the event actions edited, drained/undrained, paused/resumed, updated.

using Label = Spec.Label;  # (an alias in the schema only: C++ code names it spec::Label)

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
  after @13 :List(Spec.Dependency);
  # Every id must exist and belong to the caller.
  delayUsec @14 :UInt64;
  # --in: the task waits this long (elapsed time) from the submit.
  notBefore @15 :Int64;
  # --at: realtime ns since the epoch (the client resolved its local time);
  # the task waits until the wall clock reads it. 0: none.
  retry @16 :Spec.RetryPolicy;
  key @17 :Text;
  onConflict @18 :Spec.KeyConflict;
  requestId @19 :Text;
  spec @20 :Spec.TaskSpec;
  # The task. A client older than 0.2 leaves it unset and sends fields 0-19
  # instead (the same meaning, flat); a daemon reads those only when `spec`
  # is unset.
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
  # The limits this attempt ran with (0: none, or a daemon older than these
  # fields): a retry may grow them (RetryPolicy.memoryGrowFactor, ...).
  timeoutUsec @18 :UInt64;
  memoryMaxBytes @19 :UInt64;
  # Under a Slurm queue: the attempt's batch job and the node it ran on
  # (0 and "": not a Slurm attempt, or not yet known).
  slurmJobId @20 :UInt64;
  slurmNode @21 :Text;
}

struct TaskView {
  id @0 :UInt64;
  uid @1 :UInt32;
  gid @2 :UInt32;
  state @3 :Text;         # waiting queued starting running succeeded failed cancelled retrying paused
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
  after @24 :List(Spec.Dependency);
  notBefore @25 :Int64;       # waiting: not before this realtime ns (0: none)
  nextAttemptAt @26 :Int64;   # retrying: when the next attempt starts
  retry @27 :Spec.RetryPolicy;
  key @28 :Text;
  requestId @29 :Text;
  pruned @30 :Bool;
  # Only a tombstone is left (retention): id, uid, queue, state, reason,
  # exit status, exit code, signal and finishedAt are set; the rest is empty.
  waitingFor @31 :Text;
  # Why a task that is not running is not running, one line for a person
  # (`taskctl why`): "held", "task 12 (running) to succeed", "queue q's 2
  # slots taken by tasks 3, 4", ...; "" for a starting, running or ended task.
  held @32 :Bool;
  # `hold`: never dispatched until `release`.
  rerunOf @33 :UInt64;
  # Made by `rerun` of this task (0: not a rerun).
  pausedUsec @34 :UInt64;
  # How long the current (else the last) attempt has been paused in all,
  # the pause going on included; its timeout counts only the rest.
  pausedAt @35 :Int64;
  # paused: when this pause began (realtime ns); else 0.
  limitsUpdatedAt @36 :Int64;
  # `update`: when its limits were last changed (realtime ns; 0: never).
  limitsUpdatedBy @37 :UInt32;
  # `update`: the uid that last changed them (meaningful when limitsUpdatedAt != 0).
  editedAt @38 :Int64;
  # When `edit` last changed the task (realtime ns; 0: never edited).
}

struct ListFilter {
  state @0 :Text;         # empty: any
  queue @1 :Text;         # empty: any
  labels @2 :List(Label); # every one must match (key and value)
  allUsers @3 :Bool;      # root and the admin group: everyone's; others: ignored
  limit @4 :UInt32;       # 0: every match; else the newest `limit` matches (still listed by id)
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
  drained @8 :Bool;
  # taskctld is drained (`drain`): no queue starts anything, paused or not.
}

interface Taskctl {
  submit @0 (request :SubmitRequest) -> (id :UInt64);
  # Answers once the task is durably stored.

  status @1 (id :UInt64, withEnv :Bool) -> (task :TaskView, lastSeq :UInt64);
  # lastSeq: the event log's last published seq when the task was read; a
  # `watch` from lastSeq + 1 then misses no change after what was read.

  list @2 (filter :ListFilter, pageSize :UInt32, after :UInt64, through :UInt64)
       -> (tasks :List(TaskView), lastSeq :UInt64, more :Bool, nextCursor :UInt64,
           through :UInt64);
  # The caller's tasks (all tasks for root and the admin group), by id.
  # lastSeq: as for status.
  # Paged: a reply is one message, and a message is at most 8 MiB. With
  # pageSize > 0 the reply is one page: at most pageSize tasks (the daemon
  # may return fewer, even none, to keep a reply small and a call short),
  # each with an id above `after` and at most `through`. Call with through 0
  # first; while `more`, call again with the same filter, after = nextCursor
  # and through = the first reply's `through` (the newest task when the
  # listing began, so the listing ends and names each task once).
  # filter.limit counts from the newest end on the first call only; later
  # pages continue from where it began. pageSize 0 (a client older than
  # paging): every task in one reply, refused when they do not fit; a daemon
  # older than paging answers so too (more is false).

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

  watch @9 (from :UInt64, ids :List(UInt64), watcher :Watcher, progress :Bool)
        -> (resumeFrom :UInt64);
  # Streams the state changes of the caller's tasks (everyone's for root and
  # the admin group; with `ids`, only those, each of which must be visible)
  # to `watcher`, in seq order, with no gap and no duplicate: first the
  # stored ones from `from` (0: none, only what happens from now on), then
  # live ones. `progress`: live progress reports too (coalesced, never
  # replayed). A long call: it returns only when the watcher fell behind
  # (after watcher.fellBehind() has returned), with the seq to resume from;
  # otherwise the watch lasts until the caller hangs up or cancels it.

  scheduleAdd @10 (name :Text, onCalendar :Text, persistent :Bool, accuracyUsec :UInt64,
                   request :SubmitRequest) -> ();
  # A systemd timer that submits `request` (its argv, cwd, umask and submit
  # options; not its env, delay, notBefore, after or requestId) as the
  # caller whenever `onCalendar` elapses (DESIGN 6). name: [a-zA-Z0-9_-]{1,64},
  # unique per user. accuracyUsec 0: systemd's default (1min). Fails with
  # systemd's own verdict for an invalid spec, before anything is written;
  # "schedules need systemd" without it.

  scheduleList @11 () -> (schedules :List(ScheduleView));
  # The caller's schedules (everyone's for root and the admin group).

  scheduleRemove @12 (name :Text, owner :UInt32, hasOwner :Bool) -> ();
  # Stops, disables and deletes the caller's schedule `name` (root and the
  # admin group: anyone's). A foreign one reads like a missing one.
  # `hasOwner`: `owner`'s schedule (`--user`; a uid, resolved by the
  # client). Naming another user is "permission denied" but for root and
  # the admin group. A daemon older than these two fields ignores them.

  version @13 () -> (daemonVersion :Text, schemaRevision :UInt32);
  # The daemon's version (as `taskctld --version` prints it) and the
  # schemaRevision it was built with. Anyone connected may ask. A daemon
  # older than this method (schema revision 1) fails it with UNIMPLEMENTED.

  hold @14 (ids :List(UInt64), held :Bool) -> (tasks :List(TaskView));
  # held: `hold`, else `release`. All or nothing: every id must be visible
  # (a foreign one reads like a missing one), and holding a task that has
  # started or ended is refused; then each changes, and the tasks come back
  # as they are once that is durable. Holding a held task, or releasing one
  # that is not held, changes nothing.

  rerun @15 (id :UInt64, overrides :Spec.TaskSpec, fields :List(Text)) -> (id :UInt64);
  # A new task with the spec of task `id` (any state; not one pruned to its
  # tombstone, whose command is gone), for the same owner, with the fields
  # of `overrides` that `fields` names on top; answered like submit (its
  # id, once durable), through the same checks, keys and request ids; the
  # new task's rerunOf is `id`. A mask and not Cap'n Proto's has-field:
  # scalars (priority) have none, and a limit is one field of TaskLimits.
  # Names, as in task-spec.capnp: argv, queue, priority, labels (each given
  # label replaces the old one of its key; the others stay), after,
  # delayUsec, notBefore, retry (the whole policy), key, onConflict,
  # requestId, limits.timeoutUsec, limits.killGraceUsec,
  # limits.heartbeatUsec, limits.cpuQuotaPerSecUsec, limits.memoryMaxBytes,
  # limits.tasksMax; also env, cwd and umask (which taskctl sends only for
  # `edit`). An unknown name is refused, so a newer client's field
  # is never dropped unseen. Kept from the old task: env, cwd, umask, and
  # the limits its first attempt ran with (not ones a retry grew). Never
  # kept: its delay or --at (a start time of the old submit) and its
  # request id. A foreign id reads like a missing one.

  edit @16 (id :UInt64, overrides :Spec.TaskSpec, fields :List(Text)) -> (task :TaskView);
  # Changes task `id` in place, before it has started (waiting or queued,
  # no attempt of it ran): the fields of `overrides` that `fields` names,
  # with rerun's names and meaning (labels too), plus env, cwd and umask;
  # not requestId (refused). The rest of the task stays, its start time
  # (delayUsec, notBefore) too unless named. Checked as a submit is (its
  # queue, limits, dependencies, keys, the caller's max_user_priority), and
  # a dependency must be an older task than `id` (no cycle). All or
  # nothing: a refusal changes nothing. A starting, running or retrying
  # task, or one that has ended, is refused (use rerun). Answers with the
  # task once the change is durable (an event with action "edited"; the
  # task then moves on as a submit of it would: queued, waiting, or
  # cancelled for a dependency that ended the wrong way). A foreign id
  # reads like a missing one.

  drain @17 (drained :Bool, wait :Bool) -> (running :UInt32);
  # Root and the admin group only ("permission denied" for anyone else,
  # changing nothing). drained: `drain`, no queue starts anything new
  # (queued tasks, retries whose backoff ends, timer submissions all wait);
  # running work goes on. Not drained: `undrain`, every queue that is not
  # paused starts what it can. Persisted: a restart (and an upgrade) keeps
  # it. Answers once the change is durable, with the executions still
  # starting or running; with `wait` (drain only) not before that is 0:
  # the answer comes when the last running attempt's end is durable (no
  # polling). An `undrain` meanwhile fails that waiting call ("undrained
  # while waiting"). Each change is an event with taskId 0, action
  # "drained" or "undrained", uid the caller's, from and to "" (docs/rpc.md);
  # draining a drained daemon (or undraining one that is not) changes
  # nothing and records no event.

  pause @18 (ids :List(UInt64), paused :Bool) -> (tasks :List(TaskView));
  # paused: `pause`, else `resume`: freeze or thaw each task's running
  # execution (docs/cli.md, "Pause and resume"). All or nothing: every id
  # must be visible (a foreign one reads like a missing one) and running
  # (or paused); then each changes, and the tasks come back as they are once
  # that is durable and the execution is frozen (thawed). Pausing a paused
  # task, or resuming a running one, changes nothing. A task being stopped
  # (cancel, timeout) cannot be paused.

  update @19 (id :UInt64, limits :Spec.TaskLimits, timeoutRelative :Bool) -> (task :TaskView);
  # `taskctl update`: changes the limits of a task (docs/cli.md, "Update").
  # In `limits`, 0 leaves a limit as it is; timeoutUsec, cpuQuotaPerSecUsec,
  # memoryMaxBytes and tasksMax may be given, killGraceUsec and
  # heartbeatUsec not. timeoutRelative: timeoutUsec is added to the current
  # timeout (the running attempt's as in force, with a task's own
  # EXTEND_TIMEOUT_USEC= extension; else the task's), which must exist;
  # otherwise it is the new timeout, counted from the attempt's start. A
  # running task: its scope's properties change at once (SetUnitProperties;
  # the direct runner can change only the timeout), the daemon re-arms its
  # timer, and its later attempts keep the new limits; a task that has not
  # started (waiting, queued, retrying): its stored limits change; a starting
  # or ended one is refused. Past the queue's maximums (max_timeout,
  # max_memory, max_cpu) only root and the admin group: "permission denied"
  # for the others. Answers once durable, with an event (action "updated").
  # A foreign id reads like a missing one.
}

struct ScheduleView {
  name @0 :Text;
  uid @1 :UInt32;
  onCalendar @2 :Text;
  nextRunAt @3 :Int64;    # realtime ns since the epoch; 0: none
  lastRunAt @4 :Int64;    # 0: never
  taskIds @5 :List(UInt64);  # stored tasks it submitted (label schedule=NAME, same uid), by id
  timerUnit @6 :Text;
  serviceUnit @7 :Text;
}

struct EventView {
  # One state change of one task (DESIGN 6, "Events").
  seq @0 :UInt64;     # increasing; a refused submit may leave a gap
  taskId @1 :UInt64;
  uid @2 :UInt32;
  queue @3 :Text;
  from @4 :Text;      # the state it left; "" when it was just submitted
  to @5 :Text;
  attempt @6 :UInt32; # the attempt the change belongs to (0: none yet)
  reason @7 :Text;    # terminal and retrying: the bare word (exit, oom, ...); else ""
  at @8 :Int64;       # realtime ns since the epoch
  action @9 :Text;    # "held", "released", "edited", "updated", "paused", "resumed"; "" for a plain state change (from may equal to)
  # taskId 0: the daemon's own change, not a task's: action "drained" or
  # "undrained" (Taskctl.drain), from and to "", queue "", uid the caller's.
}

struct ProgressView {
  # A live progress report of a running attempt.
  taskId @0 :UInt64;
  uid @1 :UInt32;
  attempt @2 :UInt32;
  fraction @3 :Float64;  # 0..1
  queue @4 :Text;        # the task's queue ("" from a daemon older than this field)
  at @5 :Int64;          # realtime ns since the epoch: when the daemon got the report (0: older daemon)
}

interface Watcher {
  # Implemented by the caller of Taskctl.watch. Calls arrive in the order the
  # daemon makes them. Flow control is the daemon's: it keeps a bounded
  # number of calls to one watcher unanswered (it sends call k+N only once
  # call k has returned; N is 8 today), so a watcher that returns slowly
  # slows its watch down, and queued changes wait in the daemon, bounded. One
  # that falls too far behind is told so (fellBehind) and dropped. Return
  # from each call once its batch is handled: that reply is the credit.

  started @0 (firstSeq :UInt64, pruned :Bool) -> ();
  # The first call. firstSeq: the lowest seq this watch can deliver. pruned:
  # `from` was older than the oldest event still stored; the watch starts
  # from that one (firstSeq), and what came between was lost to retention.

  events @1 (events :List(EventView)) -> ();
  # The next changes, ascending by seq.

  progress @2 (updates :List(ProgressView)) -> ();
  # Only when asked for; the latest report per task since the last batch.
  #
  # (events and progress were declared `-> stream` up to schema revision 1.
  # Other Cap'n Proto implementations (capnp-es) cannot compile that, so
  # they return an empty struct now. The wire is the same: same interface
  # id, same ordinals, same params, and a streaming call's result is an
  # empty struct too, so clients and daemons of either revision talk to
  # each other unchanged.)

  fellBehind @3 (resumeFrom :UInt64) -> ();
  # The last call: the watcher could not keep up. Every change below
  # resumeFrom has been delivered; watch again from resumeFrom.
}
