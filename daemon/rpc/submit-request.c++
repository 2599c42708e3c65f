#include "rpc/submit-request.h"

namespace taskctl {

spec::TaskSpec::Reader taskSpecOf(rpc::SubmitRequest::Reader request,
                                  capnp::MessageBuilder& scratch) {
  if (request.hasSpec()) return request.getSpec();
  auto spec = scratch.initRoot<spec::TaskSpec>();
  spec.setArgv(request.getArgv());
  spec.setEnv(request.getEnv());
  spec.setCwd(request.getCwd());
  spec.setUmask(request.getUmask());
  spec.setQueue(request.getQueue());
  spec.setPriority(request.getPriority());
  spec.setLabels(request.getLabels());
  auto limits = spec.initLimits();
  limits.setTimeoutUsec(request.getTimeoutUsec());
  limits.setKillGraceUsec(request.getKillGraceUsec());
  limits.setHeartbeatUsec(request.getHeartbeatUsec());
  limits.setCpuQuotaPerSecUsec(request.getCpuQuotaPerSecUsec());
  limits.setMemoryMaxBytes(request.getMemoryMaxBytes());
  limits.setTasksMax(request.getTasksMax());
  spec.setAfter(request.getAfter());
  spec.setDelayUsec(request.getDelayUsec());
  spec.setNotBefore(request.getNotBefore());
  spec.setRetry(request.getRetry());
  spec.setKey(request.getKey());
  spec.setOnConflict(request.getOnConflict());
  spec.setRequestId(request.getRequestId());
  return spec.asReader();
}

}  // namespace taskctl
