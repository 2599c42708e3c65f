// The task a SubmitRequest asks for, as one spec::TaskSpec, whichever client
// sent it.
#pragma once

#include <capnp/message.h>
#include <records.capnp.h>
#include <rpc.capnp.h>

namespace taskctl {

spec::TaskSpec::Reader taskSpecOf(rpc::SubmitRequest::Reader request,
                                  capnp::MessageBuilder& scratch);
// `request.spec` when it is set (a current client). A client older than 0.2
// sends the same fields flat (0-19) instead: they are copied, field by field,
// into a TaskSpec made in `scratch`. The result is valid while both `request`
// and `scratch` are. The one place that knows the old layout.

// Who asks for a spec made of a stored task and a field mask.
enum class SpecOverlay {
  RERUN,  // a new task: `rerun`
  EDIT,   // the same task changed in place: `edit` (no request id)
};

void rerunSpec(records::Task::Reader old, kj::Maybe<records::Attempt::Reader> firstAttempt,
               spec::TaskSpec::Reader overrides, capnp::List<capnp::Text>::Reader fields,
               spec::TaskSpec::Builder out, SpecOverlay overlay = SpecOverlay::RERUN);
// `rerun` and `edit` (rpc.capnp): in `out`, the spec of the stored task
// `old` (its limits as its first attempt ran with them, when it recorded
// them: not ones a retry grew), with the fields of `overrides` that
// `fields` names on top. Never the old delay, --at or request id (an edit
// keeps the stored start time itself unless one is named). Refuses (a
// message for a person) a name it does not know, and for an edit
// "requestId". Pure: the caller checks the result as any submit.

bool namesStartTime(capnp::List<capnp::Text>::Reader fields);
// `fields` names delayUsec or notBefore (--in, --at).

}  // namespace taskctl
