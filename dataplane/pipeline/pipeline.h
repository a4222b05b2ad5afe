// One request, top to bottom, in phases that each live in their own file:
//
//   admit (admit.h)        snapshot pinned, path checked, key authenticated
//   inspect (inspect.h)    body read under its limits; model and stream read from it
//   plan (plan.h)          model allowed for the key; route, candidates, balancing
//   attempts (attempt.h)   one upstream at a time (exchange.h), retries and fallbacks
//   relay (relay.h)        the chosen response's bytes through to the client
//   finish (finish.h)      exactly once, however the request ended: its one outcome
//
// fwd's own answers (errors, the models list) go out through respond.h. The request's state
// lives in one RequestContext (request_context.h).
#pragma once

#include <boost/beast/core/flat_buffer.hpp>

#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::pipeline {

/// Serves one request whose head `req` holds (its body may still be in `buffer` or on the
/// socket). Returns whether the connection may serve another request.
Task<bool> serveRequest(WorkerContext& w, ClientConn& client, boost::beast::flat_buffer& buffer,
                        ClientRequestParser& req);

}  // namespace fwd::dataplane::pipeline
