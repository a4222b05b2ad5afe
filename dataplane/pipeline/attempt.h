// The attempts phase: the requested model's upstreams in the planned order, then each fallback
// model's, under the route's retry policy (which failures are retried, how often, with what
// backoff) and the worker's retry budget, until one upstream's response is relayed. When none
// answers, fwd answers: 429 while every upstream is cooling, 504 after a timeout, else 502.
#pragma once

#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::pipeline {

/// Returns whether the client connection may serve another request.
Task<bool> forward(RequestContext& ctx);

}  // namespace fwd::dataplane::pipeline
