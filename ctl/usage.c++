// The usage text of `taskctl --help` (docs/cli.md says the same at length).
#include "args.h"

namespace taskctl {

kj::StringPtr usageText() {
  return R"(usage: taskctl [--socket PATH] [--json] COMMAND [ARGS...]

Commands:
  submit [OPTIONS] -- CMD [ARGS...]
                        queue a command and print its id
      --queue Q           the queue (default: the daemon's default queue)
      --priority N        -100..100, higher runs first among your tasks
                          (default 0; above 0: root and admins only, unless
                          the queue's max_user_priority allows it)
      --label K=V         a label (repeatable)
      --wait              then block and exit like the task (Ctrl-C stops the
                          waiting, not the task)
      --timeout DUR       stop it after DUR (SIGTERM, the grace, SIGKILL): 90s,
                          10m, 1h30m
      --kill-grace DUR    time between SIGTERM and SIGKILL (default 10s)
      --heartbeat DUR     fail it if silent for DUR (it gets WATCHDOG_USEC and
                          sends WATCHDOG=1 to NOTIFY_SOCKET)
      --cpu N%            CPU quota: 50% of one CPU, 200% for two
      --memory SIZE       memory limit: 512M, 2G (an excess is an OOM kill)
      --tasks-max N       at most N processes and threads
                        Limits left out come from the queue's defaults.
      --after ID[:COND]   start once task ID has ended: ok (it succeeded; the
                          default), any, or failed (repeatable: all must hold)
      --in DUR            start no sooner than DUR from now: 30s, 2h
      --at TIME           start no sooner than TIME: 2026-11-25T14:30 or
                          '2026-11-25 14:30:00' (local time), or with Z or an
                          offset: 2026-11-25T14:30+01:00
      --retries N         retry up to N times (0..1000); alone: after a non-zero
                          exit, a timeout or a missed heartbeat
      --retry-on LIST     retry only on these (repeatable): exit:any,
                          exit:CODES (exit:1,2), signal, oom, timeout,
                          heartbeat, lost
      --backoff BASE[,MAX]
                          the wait before a retry: from BASE, growing up to
                          MAX, with jitter (default 1s,10m)
      --memory-grow F     with --retry-on oom: each retry after a memory kill
                          gets the memory limit times F (2x, 1.5x)
      --memory-max SIZE   ... up to SIZE (not below --memory)
      --timeout-grow F    with --retry-on timeout: each retry after a timeout
                          gets the timeout times F
      --timeout-max DUR   ... up to DUR (not below --timeout)
      --key K             at most one active task per key
      --on-conflict P     if another task holds K: queue (run after it; the
                          default), skip (print its id, add nothing), replace
                          (cancel it)
      --request-id R      submitting again with R within 24 h prints the first
                          task's id and adds nothing
      --hold              submit it held (see hold, release)
  rerun ID [SUBMIT OPTIONS] [-- CMD [ARGS...]]
                        a new task like task ID (any state), with the options
                        (and command) given on top; prints its id (--json:
                        the new task). Keeps ID's environment, directory,
                        limits and retries; not its --in, --at or request id
  edit ID [SUBMIT OPTIONS] [-- CMD [ARGS...]]
                        change a task that has not started (waiting, queued)
                        in place: the options (and command) given replace
                        their fields; all or nothing (--json: the task)
  update ID [--timeout [+]DUR] [--memory SIZE] [--cpu PCT] [--tasks-max N]
                        change a task's limits, live while it runs (+DUR adds
                        to its timeout); past the queue's maximums only root
                        and admins; the direct runner changes only --timeout
  status [--env] ID     one task: limits, attempts, progress, output tail
                        (--env: with its environment)
  list [--state S] [--queue Q] [--label K=V]... [--all-users] [--limit N]
                        your tasks; --label: only those with every label
                        given; --all-users: everyone's (for root and admins);
                        --limit: only the newest N that match
  wait [--timeout DUR] ID...
                        block until the tasks end; exit like the first that
                        did not succeed; --timeout: give up after DUR (exit 75)
  hold ID...            never start these tasks (not yet started) until
                        released; they wait, also across restarts
  release ID...         let held tasks go on
  why ID                one line: why the task is not running
  pause ID...           freeze running tasks (all their processes); their
                        timeout and heartbeat clocks stop until resumed
  resume ID...          let paused tasks run on
  cancel ID...          cancel tasks: queued ones at once, running ones are
                        stopped (SIGTERM, a grace period, SIGKILL)
  logs [-f] [--attempt N] ID
                        an attempt's output (default: the latest attempt);
                        -f, --follow: keep printing until the attempt ends
  watch [--from SEQ] [--progress] [ID...]
                        print each state change of your tasks (or of the ids
                        given) as it happens, until Ctrl-C; --from: first
                        the stored changes from sequence number SEQ (status
                        and list --json show last_seq), with none missed
                        and none twice; --progress: progress reports too
  progress FRACTION [TEXT]
                        inside a task: report progress (0.4 or 40%) and a
                        one-line status text to taskctld (via NOTIFY_SOCKET)
  queue list            the queues: concurrency, running, queued, waiting,
                        paused
  queue set Q --concurrency N|default
                        run up to N (1..10000) of Q's tasks at once, or go
                        back to the configured value (root and admins)
  queue pause Q         start nothing new from Q; running tasks go on
                        (root and admins)
  queue resume Q        start Q's tasks again (root and admins)
  drain [--wait]        for maintenance: no queue starts anything new, running
                        tasks go on; kept across restarts (root and admins);
                        --wait: return once nothing runs
  undrain               start tasks again (paused queues stay paused)
  schedule add NAME --on-calendar SPEC [--persistent] [--accuracy DUR]
               [SUBMIT OPTIONS] -- CMD [ARGS...]
                        a systemd timer that submits CMD as you whenever SPEC
                        (systemd.time(7): daily, 'Mon 03:00', '*:*:0/10')
                        elapses, labelled schedule=NAME; --persistent: catch
                        up on runs missed while the machine was off;
                        --accuracy: how late it may fire (default 1min).
                        NAME: 1-64 of a-z A-Z 0-9 _ -. Needs taskctld with
                        systemd (the scope runner)
  schedule list         your schedules (everyone's for root and admins): the
                        spec, next and last run, the tasks each submitted
  schedule remove NAME [--user USER]
                        stop and delete your schedule NAME; root and admins:
                        anyone's, and --user (a name in /etc/passwd or a uid)
                        says whose when several users have one of that name

Options:
  --socket PATH         taskctld's socket (default: $TASKCTL_SOCKET, else
                        /run/taskctl/taskctl.sock)
  --json                JSON output for status, list, wait, submit --wait,
                        rerun, edit, queue, schedule list and watch
  -h, --help            show this text
  --version             show the version

Exit status: 0 done; wait and submit --wait exit like the task (its exit
code, 128+N for signal N, 124 timeout or heartbeat, 130 cancelled or
replaced through its key, 125-127 did not start, 125 also when a dependency
failed), and submit --wait and watch with 130 on Ctrl-C; 64 usage error, 65
rejected input (such as an unknown id, or a request over 8 MiB), 69 taskctld
unreachable or not answering, 75 taskctld overloaded (retry later), a per-user
quota reached, too many of your connections open, watch fell behind (it
says which --from resumes it), or wait --timeout gave up, 77 permission denied (such as queue set, pause
or resume by someone who is not root or an admin, a priority above the queue's
max_user_priority, or another user's private taskctld).
)"_kj;
}

}  // namespace taskctl
