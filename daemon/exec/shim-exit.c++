#include "shim-exit.h"

#include <kj/string.h>

namespace taskctl {

int shimExitStatus(records::ExecResult::Reader result) {
  if (result.getNotStarted()) return SHIM_EXIT_NOT_STARTED;
  if (result.getSpawnFailed()) {
    return result.getExitCode() == 127 ? SHIM_EXIT_SPAWN_127 : SHIM_EXIT_SPAWN_126;
  }
  int signal = result.getSignal();
  if (signal != 0) return signal >= 1 && signal <= 64 ? 128 + signal : SHIM_EXIT_SHIM_FAILED;
  int code = result.getExitCode();
  if (code >= 0 && code <= 127) return code;
  if (code >= 128 && code <= 255) return SHIM_EXIT_HIGH_CODE;
  return SHIM_EXIT_SHIM_FAILED;  // neither a code nor a signal: not an end we know
}

bool outcomeFromShimExit(int status, records::ExecResult::Builder result) {
  if (status >= 0 && status <= 127) {
    result.setExitCode(status);
    return true;
  }
  if (status >= 129 && status <= 192) {
    result.setExitCode(-1);
    result.setSignal(status - 128);
    return true;
  }
  switch (status) {
    case SHIM_EXIT_HIGH_CODE:
      // Failed for certain, with a code the status cannot hold: 255 stands
      // for it, and the message says so.
      result.setExitCode(255);
      result.setMessage(
          "exited with a status of 128 or more (the exact one was lost with the result file)");
      return true;
    case SHIM_EXIT_SPAWN_126:
    case SHIM_EXIT_SPAWN_127:
      result.setSpawnFailed(true);
      result.setExitCode(status == SHIM_EXIT_SPAWN_127 ? 127 : 126);
      result.setMessage(status == SHIM_EXIT_SPAWN_127
                            ? "command not found (the shim's result file was lost)"
                            : "the command could not be started (the shim's result file was lost)");
      return true;
    case SHIM_EXIT_NOT_STARTED:
      result.setNotStarted(true);
      return true;
    default:
      return false;
  }
}

}  // namespace taskctl
