// The task a SubmitRequest asks for, as one spec::TaskSpec, whichever client
// sent it.
#pragma once

#include <capnp/message.h>
#include <rpc.capnp.h>

namespace taskctl {

spec::TaskSpec::Reader taskSpecOf(rpc::SubmitRequest::Reader request,
                                  capnp::MessageBuilder& scratch);
// `request.spec` when it is set (a current client). A client older than 0.2
// sends the same fields flat (0-19) instead: they are copied, field by field,
// into a TaskSpec made in `scratch`. The result is valid while both `request`
// and `scratch` are. The one place that knows the old layout.

}  // namespace taskctl
