// The exit status of taskctl-exec: how the command ended, for when its
// result file could not be written (a full disk). The daemon, whose child
// the shim is, reads the result file first and falls back on this status;
// only a re-adopted shim (the daemon restarted meanwhile, so nobody can reap
// it) that left no result makes the attempt `lost` (DESIGN section 9).
//
// Eight bits cannot carry every exit code and every signal, so the encoding
// is exact where it matters (success, the common codes, every signal, the
// shim's own ends) and says so where it is not. Each status means one thing:
//
//   0-127     the command exited with this code
//   128+N     the command was killed by signal N (1-64: 129-192), as shells
//             report it
//   193       the command exited with a code of 128 to 255 (which one is
//             only in the result file)
//   250, 251  the command could not be started: exit code 126 (cannot run
//             it, or the shim refused its spec: a NUL byte, no command) or
//             127 (not found); no user code ran. An end: never requeued
//   252       not started: the go fd closed unwritten; no user code ran
//   255       the shim failed before it could run anything (a spec it
//             cannot read or without a result path, a bad command line; it
//             says why on stderr)
//   other     not used: read as "no outcome"
#pragma once

#include <kj/common.h>
#include <records.capnp.h>

namespace taskctl {

constexpr int SHIM_EXIT_HIGH_CODE = 193;
constexpr int SHIM_EXIT_SPAWN_126 = 250;
constexpr int SHIM_EXIT_SPAWN_127 = 251;
constexpr int SHIM_EXIT_NOT_STARTED = 252;
constexpr int SHIM_EXIT_SHIM_FAILED = 255;

int shimExitStatus(records::ExecResult::Reader result);
// The status the shim exits with for `result` (whether or not it could write
// it): notStarted, spawnFailed, exitCode and signal are read.

bool outcomeFromShimExit(int status, records::ExecResult::Builder result);
// Fills `result` (notStarted, spawnFailed, exitCode, signal, message) from a
// shim's exit status and returns true; false for a status that carries no
// outcome (255 and the unused values), leaving `result` alone.

}  // namespace taskctl
