// The second phase: reads the request body (answering `Expect: 100-continue` first) under the
// size and time limits, then reads what routing needs from it — `model` and `stream` — without
// re-serialising it (body_inspect.h).
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <optional>

#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::pipeline {

/// Reads the rest of the body into ctx.req. nullopt with ctx.dropped unset: read. An error:
/// answer it (413 over the limit, 408 too slow). ctx.dropped: the client is gone or broke the
/// framing; nothing to answer.
Task<std::optional<ApiError>> readBody(RequestContext& ctx, boost::beast::flat_buffer& buffer);

/// Fills ctx.body and ctx.model. nullopt: the body is fine; otherwise a 400 to answer (not
/// JSON, `model` or `stream` of the wrong type, `model` missing where OpenAI requires it).
std::optional<ApiError> inspectBody(RequestContext& ctx);

}  // namespace fwd::dataplane::pipeline
