// Where a Slurm attempt's files live, on the queue's shared directory (a path
// every node mounts at the same place; docs/slurm.md):
//   <shared>/runs/<id>-<n>/   the attempt's run directory, the owner's (0700):
//                             spec (what taskctl-exec runs), job (the batch
//                             script), result (the shim's), slurm.out
//   <shared>/logs/<id>-<n>.log  the command's output, made here and handed to
//                             the owner, kept until the task is pruned
// runs/ and logs/ are root's and not writable by users, so a user can change
// the contents of their own files but never which file a path names.
#pragma once

#include <kj/string.h>
#include <records.capnp.h>

#include "runner/runner.h"

namespace taskctl {

kj::String slurmRunDir(kj::StringPtr sharedDir, uint64_t taskId, uint32_t attempt);
kj::String slurmLogPath(kj::StringPtr sharedDir, uint64_t taskId, uint32_t attempt);
kj::String slurmJobName(uint64_t taskId, uint32_t attempt);  // taskctl-<id>-<n>

void prepareSlurmRun(kj::StringPtr sharedDir, records::ExecSpec::Reader spec, kj::StringPtr script,
                     bool chownToOwner);
// Makes the attempt's run directory with `spec` and the batch `script` in it,
// and its empty log, all written before the directory is handed to the
// spec's uid and gid (when `chownToOwner`: the daemon is root), so nothing of
// the owner's can be in the way. Throws with the path and the reason.

kj::Maybe<kj::Own<ExecOutcome>> readSlurmOutcome(kj::StringPtr sharedDir, uint64_t taskId,
                                                 uint32_t attempt);
// The shim's result file, if there is a readable one.

void removeSlurmRun(kj::StringPtr sharedDir, uint64_t taskId, uint32_t attempt);
// Removes the run directory and what the owner left in it, without following
// any link; a subdirectory the owner made stays (logged). The log stays.

}  // namespace taskctl
