// The old shape of a submit. taskctl sends the task as SubmitRequest.spec; a daemon older than
// that field reads only the flat fields 0-19, so taskctl fills those too, from the spec, here and
// nowhere else.
#pragma once

#include "rpc.capnp.h"

namespace taskctl {

// Copies `spec` into `request`'s flat fields (argv to requestId, the same meaning flat). A
// retry policy is copied only when the spec has one, as a client of the flat fields sent it.
void setFlatSubmitFields(rpc::SubmitRequest::Builder request, spec::TaskSpec::Reader spec);

}  // namespace taskctl
