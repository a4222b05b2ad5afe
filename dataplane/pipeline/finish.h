// The last phase: every request, however it ended, is finished here exactly once, and its one
// outcome is what metrics count (and, as they arrive, request records, budgets and
// notifications).
#pragma once

#include <optional>
#include <string_view>

#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::pipeline {

/// How a request ended. Views into the request's context, valid during finish().
struct RequestOutcome {
  int status = 0;  // answered (499: the client left)
  std::string_view route;
  std::string_view model;         // metrics label of the model asked for
  std::string_view served_model;  // the model the upstream was sent (or asked for)
  std::string_view upstream;      // of the last attempt, or ""
  const config::KeyEntry* key = nullptr;
  size_t attempts = 0;
  double seconds = 0;                            // from the request head to the end of the answer
  std::optional<double> first_byte;              // to the first response body byte
  std::string_view error_code;                   // empty when the request succeeded
  const ratelimit::Admission* limits = nullptr;  // what it took from its key's limits
  const ratelimit::Admission* route_limits = nullptr;  // ... and from its route's
  const usage::Usage* usage = nullptr;                 // what the answer used, when it was read
  bool stream = false;                                 // the client asked for a stream
  WorkerContext* worker = nullptr;                     // the worker it ran on
  const RequestContext* request = nullptr;             // all it learnt, for records
};

/// Called once per request, when it is over (pipeline.cc guarantees it).
void finish(RequestContext& ctx);

/// The metrics label for `model`: the model itself, until the worker has seen max_model_labels
/// distinct ones, then "other" (bounded cardinality). The view points into the worker's set.
std::string_view modelLabel(WorkerContext& w, std::string_view model);

}  // namespace fwd::dataplane::pipeline
