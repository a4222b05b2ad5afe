// The first phase: pins the snapshot the request is served under, checks that its path is one
// fwd serves, and authenticates its key. Nothing of the body has been read yet.
#pragma once

#include <optional>

#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::pipeline {

/// Fills ctx.cfg, prefix, path, target_rest and key. nullopt: admitted; otherwise the error to
/// answer (503 without a config, 404 for a path outside /v1/, 400 for dot segments, 401 without
/// a valid key).
std::optional<ApiError> admit(RequestContext& ctx);

}  // namespace fwd::dataplane::pipeline
