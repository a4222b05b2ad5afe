// Answers fwd gives itself (errors, the models list), written to the client with the request's
// status and error recorded in its context. Every answer fwd makes goes through here, so a policy
// that reshapes answers (errors as 200) has one place to act.
#pragma once

#include <string>

#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::pipeline {

/// True when the connection may serve another request after this one's answer: the client and
/// the worker allow it, and the request's body was read (an unread body would be taken for the
/// next request).
bool mayKeepAlive(const RequestContext& ctx);

/// Calls the kOnComplete hooks: the answer (with real status `status`) is whole and its last
/// bytes are about to be written.
void complete(RequestContext& ctx, int status);

/// Writes `e` as an OpenAI-shaped error. Returns whether the connection may be kept. GCC 12
/// destroys non-trivial temporaries in a co_await full-expression twice, so callers pass a named
/// ApiError.
Task<bool> respondError(RequestContext& ctx, const ApiError& e);

/// Writes a JSON answer fwd produced (the models list). Returns whether the connection may be
/// kept.
Task<bool> respondJson(RequestContext& ctx, int status, const std::string& body);

}  // namespace fwd::dataplane::pipeline
