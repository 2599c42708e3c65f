#include "submit-request.h"

namespace taskctl {

void setFlatSubmitFields(rpc::SubmitRequest::Builder request, spec::TaskSpec::Reader spec) {
  request.setArgv(spec.getArgv());
  request.setEnv(spec.getEnv());
  request.setCwd(spec.getCwd());
  request.setUmask(spec.getUmask());
  request.setQueue(spec.getQueue());
  request.setPriority(spec.getPriority());
  request.setLabels(spec.getLabels());
  auto limits = spec.getLimits();
  request.setTimeoutUsec(limits.getTimeoutUsec());
  request.setKillGraceUsec(limits.getKillGraceUsec());
  request.setHeartbeatUsec(limits.getHeartbeatUsec());
  request.setCpuQuotaPerSecUsec(limits.getCpuQuotaPerSecUsec());
  request.setMemoryMaxBytes(limits.getMemoryMaxBytes());
  request.setTasksMax(limits.getTasksMax());
  request.setAfter(spec.getAfter());
  request.setDelayUsec(spec.getDelayUsec());
  request.setNotBefore(spec.getNotBefore());
  if (spec.hasRetry()) request.setRetry(spec.getRetry());
  request.setKey(spec.getKey());
  request.setOnConflict(spec.getOnConflict());
  request.setRequestId(spec.getRequestId());
}

}  // namespace taskctl
