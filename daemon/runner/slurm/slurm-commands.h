// The Slurm command lines the SlurmRunner runs, and parsers of what they
// print: pure functions, no processes, so every format is unit-tested
// against Slurm 22.05's output (Debian 12) without a cluster.
#pragma once

#include <kj/array.h>
#include <kj/common.h>
#include <kj/string.h>
#include <kj/vector.h>
#include <stdint.h>

#include "config/config.h"

namespace taskctl {

// One attempt as a batch job. Limits of 0 are "none" (left out).
struct SlurmJobRequest {
  uint64_t taskId = 0;
  uint32_t attempt = 0;
  kj::StringPtr cwd;                // --chdir: the task's working directory
  uint64_t memoryMaxBytes = 0;      // --mem, in MiB rounded up
  uint64_t cpuQuotaPerSecUsec = 0;  // --cpus-per-task: 1 s of CPU per second is 1 CPU
  uint64_t timeoutUsec = 0;         // with killGraceUsec: --time, a backstop only
  uint64_t killGraceUsec = 0;       // the effective grace (the caller resolves the default)
  kj::StringPtr scriptPath;         // the batch script, on the shared directory
  kj::StringPtr outputPath;         // --output and --error: what the script itself prints
};

kj::Array<kj::String> sbatchArgv(const SlurmQueueConfig& queue, const SlurmJobRequest& request);
// <bin_dir>/sbatch --parsable --hold --no-requeue --job-name=taskctl-<id>-<n>
// --output=P --error=P --chdir=CWD --export=NONE [--partition= --account= --qos=]
// [--mem=NM] [--cpus-per-task=N] [--time=MIN] <sbatch_options...> <script>.

uint64_t slurmTimeLimitMinutes(uint64_t timeoutUsec, uint64_t killGraceUsec);
// ceil((timeout + grace) / 1 min) + 2: Slurm counts whole minutes and its
// own kill must never come before the daemon's timer has done its work.

kj::Maybe<uint64_t> parseSbatchParsable(kj::StringPtr out);
// sbatch --parsable's stdout: "12345" or "12345;cluster" (its last
// non-empty line). Null for anything else.

enum class SlurmJobState {
  PENDING,
  CONFIGURING,
  RUNNING,
  SUSPENDED,
  COMPLETING,
  COMPLETED,
  FAILED,
  OUT_OF_MEMORY,
  TIMEOUT,
  DEADLINE,
  CANCELLED,
  NODE_FAIL,
  BOOT_FAIL,
  PREEMPTED,
  REQUEUED,
  REQUEUE_HOLD,
  REQUEUE_FED,
  SPECIAL_EXIT,
  RESV_DEL_HOLD,
  STOPPED,
  SIGNALING,
  STAGE_OUT,
  RESIZING,
  REVOKED,
  OTHER  // a word this table does not know (a newer Slurm): kept as the word
};

SlurmJobState parseSlurmJobState(kj::StringPtr word);  // "RUNNING", ...; else OTHER

// How the batch script ended, as Slurm tells it: an exit code or a signal.
struct SlurmExit {
  int code = 0;
  int signal = 0;
};

struct SlurmJobStatus {
  uint64_t jobId = 0;
  SlurmJobState state = SlurmJobState::OTHER;
  kj::String stateWord;       // Slurm's own word, for messages ("CANCELLED", "NODE_FAIL")
  kj::String node;            // the node list; "" while pending
  kj::String reason;          // "None", "JobHeldUser", "Resources", ...
  kj::Maybe<SlurmExit> exit;  // the script's end (meaningful once the job ended)
};

kj::Array<kj::String> squeueArgv(kj::StringPtr binDir, kj::ArrayPtr<const uint64_t> jobIds);
// <bin_dir>/squeue --noheader --states=all --jobs=a,b,c --Format=<id|state|nodes|exit|reason>.
// One call for all the queue's live jobs. Note: with ONE id, squeue asks
// for that job alone and an id slurmctld forgot exits 1 with "Invalid job
// id specified" (see isInvalidJobIdError); with several, a forgotten job
// is just absent from the output.

kj::Vector<SlurmJobStatus> parseSqueue(kj::StringPtr out);
// One status per well-formed line; blank and malformed lines are skipped,
// never thrown on.

kj::Array<kj::String> scontrolShowJobArgv(kj::StringPtr binDir, uint64_t jobId);
// <bin_dir>/scontrol --oneliner show job <id>

kj::Maybe<SlurmJobStatus> parseScontrolShowJob(kj::StringPtr out);
// The first job of `scontrol -o show job` (JobId=, JobState=, Reason=,
// ExitCode=a:b, NodeList=). Null when there is none.

bool isInvalidJobIdError(kj::StringPtr err);

bool isUnreachableError(kj::StringPtr err);
// A Slurm command's stderr when Slurm did not answer (slurmctld down or
// restarting, munge down, the command killed for taking too long), not a
// refusal: nothing changed, and the same command is worth trying later.

kj::Array<kj::String> scancelPendingByNameArgv(kj::StringPtr binDir, kj::StringPtr jobName);
// scancel --state=PENDING --name=NAME: a held job whose id was never stored.

kj::Array<kj::String> scontrolShowPartitionArgv(kj::StringPtr binDir, kj::StringPtr partition);
// scontrol --oneliner show partition [NAME] ("" : every partition).
// squeue's or scontrol's stderr for a job slurmctld no longer knows (past
// MinJobAge, or never submitted): the job is gone, not Slurm unreachable.

kj::Array<kj::String> scancelArgv(kj::StringPtr binDir, uint64_t jobId, int signal);
// SIGKILL: `scancel <id>` (cancels the job: state CANCELLED, allocation
// freed). Any other: `scancel --full --signal=NAME <id>` (the batch script,
// i.e. the shim, and its children; the job lives on).

kj::Array<kj::String> scontrolReleaseArgv(kj::StringPtr binDir, kj::ArrayPtr<const uint64_t> ids);
kj::Array<kj::String> scontrolSuspendArgv(kj::StringPtr binDir, kj::ArrayPtr<const uint64_t> ids);
kj::Array<kj::String> scontrolResumeArgv(kj::StringPtr binDir, kj::ArrayPtr<const uint64_t> ids);
// scontrol release|suspend|resume a,b,c. Suspend and resume need root (or a
// Slurm operator); release of a job its owner held, the owner or root.

// What a state means for the attempt.
enum class SlurmEnd {
  LIVE,       // not ended (or a word we do not know: wait; the result file or the job's vanishing
              // decides)
  EXITED,     // COMPLETED, FAILED: code or signal from the result file (else SlurmExit)
  OOM,        // OUT_OF_MEMORY
  TIMEOUT,    // TIMEOUT, DEADLINE: Slurm's backstop fired
  CANCELLED,  // the runner knows whether it was taskctl's scancel
  LOST,       // NODE_FAIL, BOOT_FAIL, REVOKED: the execution is gone, result or not
  PREEMPTED,  // taskctl requeues it as a new attempt; the job itself never requeues
  REQUEUED,   // REQUEUED, REQUEUE_HOLD, REQUEUE_FED, SPECIAL_EXIT: Slurm would run the
              // script again despite --no-requeue (an admin's requeue): scancel it and
              // treat the attempt as LOST, so there is never a second execution
};

SlurmEnd classify(SlurmJobState state);

}  // namespace taskctl
