#include "rpc/submit-request.h"

#include "common/errors.h"

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

void rerunSpec(records::Task::Reader old, kj::Maybe<records::Attempt::Reader> firstAttempt,
               spec::TaskSpec::Reader overrides, capnp::List<capnp::Text>::Reader fields,
               spec::TaskSpec::Builder out, SpecOverlay overlay) {
  kj::StringPtr verb = overlay == SpecOverlay::EDIT ? "edit"_kj : "rerun"_kj;
  out.setArgv(old.getArgv());
  out.setEnv(old.getEnv());
  out.setCwd(old.getCwd());
  out.setUmask(old.getUmask());
  out.setQueue(old.getQueue());
  out.setPriority(old.getPriority());
  out.setAfter(old.getAfter());
  out.setRetry(old.getRetry());
  out.setKey(old.getKey());
  out.setOnConflict(old.getOnConflict());
  // Resolved at its submit (the queue's defaults in): taken as asked for now.
  out.setLimits(old.getLimits());
  auto limits = out.getLimits();
  KJ_IF_MAYBE (first, firstAttempt) {
    if (first->getTimeoutUsec() != 0) limits.setTimeoutUsec(first->getTimeoutUsec());
    if (first->getMemoryMaxBytes() != 0) limits.setMemoryMaxBytes(first->getMemoryMaxBytes());
  }
  // Labels: the old ones, each given one replacing the old of its key.
  bool labelsGiven = false;
  for (auto field : fields) labelsGiven = labelsGiven || field == "labels";
  {
    auto given = overrides.getLabels();
    kj::Vector<spec::Label::Reader> kept;
    for (auto label : old.getLabels()) {
      bool replaced = false;
      if (labelsGiven) {
        for (auto g : given) replaced = replaced || g.getKey() == label.getKey();
      }
      if (!replaced) kept.add(label);
    }
    auto list = out.initLabels(kept.size() + (labelsGiven ? given.size() : 0));
    uint32_t i = 0;
    for (auto label : kept) list.setWithCaveats(i++, label);
    if (labelsGiven) {
      for (auto label : given) list.setWithCaveats(i++, label);
    }
  }
  auto asked = overrides.getLimits();
  for (auto field : fields) {
    if (field == "argv") {
      out.setArgv(overrides.getArgv());
    } else if (field == "env") {
      out.setEnv(overrides.getEnv());
    } else if (field == "cwd") {
      out.setCwd(overrides.getCwd());
    } else if (field == "umask") {
      out.setUmask(overrides.getUmask());
    } else if (field == "queue") {
      out.setQueue(overrides.getQueue());
    } else if (field == "priority") {
      out.setPriority(overrides.getPriority());
    } else if (field == "labels") {
      // above
    } else if (field == "after") {
      out.setAfter(overrides.getAfter());
    } else if (field == "delayUsec") {
      out.setDelayUsec(overrides.getDelayUsec());
    } else if (field == "notBefore") {
      out.setNotBefore(overrides.getNotBefore());
    } else if (field == "retry") {
      out.setRetry(overrides.getRetry());
    } else if (field == "key") {
      out.setKey(overrides.getKey());
    } else if (field == "onConflict") {
      out.setOnConflict(overrides.getOnConflict());
    } else if (field == "requestId") {
      if (overlay == SpecOverlay::EDIT) {
        refuse(
            kj::str("edit cannot change a task's --request-id (it names the submit that made "
                    "the task)"));
      }
      out.setRequestId(overrides.getRequestId());
    } else if (field == "limits.timeoutUsec") {
      limits.setTimeoutUsec(asked.getTimeoutUsec());
    } else if (field == "limits.killGraceUsec") {
      limits.setKillGraceUsec(asked.getKillGraceUsec());
    } else if (field == "limits.heartbeatUsec") {
      limits.setHeartbeatUsec(asked.getHeartbeatUsec());
    } else if (field == "limits.cpuQuotaPerSecUsec") {
      limits.setCpuQuotaPerSecUsec(asked.getCpuQuotaPerSecUsec());
    } else if (field == "limits.memoryMaxBytes") {
      limits.setMemoryMaxBytes(asked.getMemoryMaxBytes());
    } else if (field == "limits.tasksMax") {
      limits.setTasksMax(asked.getTasksMax());
    } else {
      refuse(kj::str(verb, " cannot set \"", field,
                     "\" (this taskctld is older than the client: leave that option out)"));
    }
  }
}

bool namesStartTime(capnp::List<capnp::Text>::Reader fields) {
  for (auto field : fields) {
    if (field == "delayUsec" || field == "notBefore") return true;
  }
  return false;
}

}  // namespace taskctl
