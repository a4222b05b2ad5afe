// One attempt at one upstream: a pooled connection or a new one (resolve, connect, TLS), the
// request sent as the upstream's provider builds it, the response head read under the first-byte
// limit, then either the relay (the response is the client's) or a failure the attempt loop may
// retry (a 5xx, or a 429 the route retries, whose body is read only for its message). While the
// attempt waits, a client that hangs up cancels it (client_watch.h).
#pragma once

#include "dataplane/pipeline/attempt_result.h"
#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::pipeline {

/// Tries `t` once: if a reused pooled connection turns out to be dead before any response byte,
/// on one fresh connection again. Returns what the attempt came to; a reusable connection goes
/// back to the worker's pool.
Task<Attempt> attemptUpstream(RequestContext& ctx, const config::UpstreamTarget& t,
                              const AttemptPlan& plan);

}  // namespace fwd::dataplane::pipeline
