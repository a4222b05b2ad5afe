// The follow-ups of a provider whose first answer is not the answer (Provider::followsUp, e.g.
// Replicate's prediction): fwd reads that answer whole, asks the provider what comes next and
// GETs it under the attempt's deadline (a stream URL, or the prediction polled until it is done),
// on connections of the worker's pool. The answer is then relayed as any other: a stream from its
// connection, a JSON answer read whole from memory (ReplayStream) — through the same translator,
// policies, stream conversion and records.
#pragma once

#include <string>
#include <string_view>

#include "dataplane/pipeline/attempt_result.h"
#include "dataplane/pipeline/client_watch.h"
#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::pipeline {

/// The largest follow-up answer fwd reads whole (a prediction with its logs).
inline constexpr size_t kMaxFollowUpAnswer = 1u << 20;

/// Takes the attempt on from `answer`, the upstream's first 2xx answer (read whole), to the
/// client's answer or a failure, as relayResponse would return it (`out`: the attempt so far).
Task<Attempt> followUp(RequestContext& ctx, const config::UpstreamTarget& t,
                       const AttemptPlan& plan, ClientWatch& watch, Clock::time_point deadline,
                       std::string answer, Attempt out);

/// GETs `url` of upstream `t` for the relay (a stream's usage, once the stream ended) and returns
/// its 2xx answer read whole; empty on any failure (nothing goes to the client from here).
Task<std::string> fetchWhole(RequestContext& ctx, const config::UpstreamTarget& t,
                             const AttemptPlan& plan, Clock::time_point deadline,
                             std::string_view url);

}  // namespace fwd::dataplane::pipeline
