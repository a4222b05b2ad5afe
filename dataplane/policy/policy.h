// A policy is one feature on the request path (IP rules, request edits, errors as 200, and
// later limits, budgets, cache, records) as a set of hooks the pipeline calls at fixed points.
// Policies are compiled with each snapshot into an ordered, immutable chain (chain.h) shared by
// every worker, as Envoy's HTTP filter chain but built once per snapshot instead of allocated per
// request. What a policy must keep per worker (counters, caches) lives in a WorkerSlot that the
// worker builds when the snapshot is published to it, so hooks take no lock.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/proxy/errors.h"
#include "dataplane/proxy/worker_io.h"

namespace fwd::dataplane::pipeline {
struct RequestContext;
struct RequestOutcome;
}  // namespace fwd::dataplane::pipeline
namespace fwd::dataplane::config {
struct UpstreamTarget;
}
namespace fwd::dataplane::rewrite {
struct BodyEdits;
}

namespace fwd::dataplane::policy {

/// One policy's state on one worker for one snapshot. Touched by that worker's thread only.
class WorkerSlot {
 public:
  virtual ~WorkerSlot() = default;
};

/// The points where the pipeline calls policies, in request order. A policy declares the hooks it
/// has; the chain calls no other.
enum Hook : unsigned {
  kOnClient = 1u << 0,   // before authentication: the client's address and path are known
  kOnKey = 1u << 1,      // the key is authenticated; the body is not read yet
  kOnRequest = 1u << 2,  // the body is read and inspected, the model is allowed; before routing
  kOnError = 1u << 3,    // fwd is about to answer with an error of its own
  kOnFinish = 1u << 4,   // the request is over: its outcome
  kOnResponseHead = 1u << 5,  // an upstream's response head is about to be relayed
  kOnAttempt = 1u << 6,       // an attempt at one upstream is about to be sent
  kOnAnswer = 1u << 7,        // an upstream's 2xx answer body: its JSON, or each SSE event
  // As kOnRequest, right after it, but the policy may wait (a round trip to Redis). Called
  // once per request: there, or before fwd answers a request itself (GET /v1/models, whose
  // body is not read).
  kAwaitRequest = 1u << 8,
  // The answer is whole and its last bytes are about to be written to the client: an upstream's
  // answer read to its end, or an answer of fwd's own. What the client sees next is the end of
  // it, so what a policy does here (give back a limit's slot, count the tokens used) is done
  // before the client can send its next request. Not called for an answer cut short.
  kOnComplete = 1u << 9,
};
inline constexpr size_t kHookCount = 10;

/// An error answer as it will be written; kOnError hooks may reshape it.
struct ErrorAnswer {
  int status = 0;                // the HTTP status sent
  const proxy::ApiError* error;  // the error (its status is the real one)
  bool status_header = false;    // also send x-fwd-status with error->status
};

/// The status line of an upstream response about to be relayed; kOnResponseHead hooks may
/// change the status sent (the upstream's then goes in x-fwd-status).
struct ResponseHead {
  int status = 0;       // the upstream's
  int send_status = 0;  // what the client gets; starts equal to status
};

/// A piece of an upstream's answer a kOnAnswer hook may rewrite: the whole JSON body of an
/// answer, or the data of one SSE event of a stream (never "[DONE]").
struct AnswerPart {
  std::string& data;
  bool stream = false;
  bool drop = false;  // a stream event only: set to leave the event out of what the client gets
  // A stream event only: the tokens it carries for pacing (ctx.limits.pace_ns each); the relay
  // holds it back until the stream's pace allows it.
  std::uint32_t pace_tokens = 0;
};

// fwd::dataplane::policy::Policy
class Policy {
 public:
  virtual ~Policy() = default;

  /// Names the policy in logs and errors.
  virtual std::string_view name() const = 0;
  /// The Hook bits of the hooks this policy has.
  virtual unsigned hooks() const = 0;

  /// Worker thread, when the snapshot is published to that worker: the policy's state there, or
  /// nullptr when it keeps none.
  virtual std::unique_ptr<WorkerSlot> makeWorkerSlot() const { return nullptr; }

  /// kOnClient, kOnKey, kOnRequest: an error ends the request with that answer (nothing goes
  /// upstream); nullopt lets it go on. Worker thread.
  virtual std::optional<proxy::ApiError> onClient(pipeline::RequestContext& ctx,
                                                  WorkerSlot* slot) const {
    return std::nullopt;
  }
  virtual std::optional<proxy::ApiError> onKey(pipeline::RequestContext& ctx,
                                               WorkerSlot* slot) const {
    return std::nullopt;
  }
  virtual std::optional<proxy::ApiError> onRequest(pipeline::RequestContext& ctx,
                                                   WorkerSlot* slot) const {
    return std::nullopt;
  }
  /// kAwaitRequest: as onRequest, awaited. Worker thread; waits without blocking it.
  virtual proxy::Task<std::optional<proxy::ApiError>> awaitRequest(pipeline::RequestContext& ctx,
                                                                   WorkerSlot* slot) const {
    co_return std::nullopt;
  }
  /// kOnError. Worker thread.
  virtual void onError(const pipeline::RequestContext& ctx, ErrorAnswer& answer,
                       WorkerSlot* slot) const {}
  /// kOnResponseHead. Worker thread.
  virtual void onResponseHead(const pipeline::RequestContext& ctx, ResponseHead& head,
                              WorkerSlot* slot) const {}
  /// kOnAttempt: adds the body edits the attempt at `upstream` needs to `edits` (which already
  /// holds the model the route sends). The pipeline applies all of them with one parse, to the
  /// body as the client sent it. Worker thread.
  virtual void onAttempt(const pipeline::RequestContext& ctx,
                         const config::UpstreamTarget& upstream, rewrite::BodyEdits& edits,
                         WorkerSlot* slot) const {}
  /// kOnAnswer: whether this policy reads the body of the 2xx answer about to be relayed
  /// (ctx.upstream sent it). Answering true costs the relay its byte-for-byte path for this
  /// answer. Worker thread.
  virtual bool wantsAnswer(const pipeline::RequestContext& ctx, WorkerSlot* slot) const {
    return false;
  }
  /// kOnAnswer: rewrites `part` in place as needed (and may note what it read in `ctx`);
  /// returns whether it wants the next parts of this answer. Worker thread.
  virtual bool onAnswer(pipeline::RequestContext& ctx, AnswerPart& part, WorkerSlot* slot) const {
    return false;
  }
  /// kOnComplete: `status` is the one the client gets. Worker thread; must not block.
  virtual void onComplete(pipeline::RequestContext& ctx, int status, WorkerSlot* slot) const {}
  /// kOnFinish. Worker thread; must not block (queue what is slow).
  virtual void onFinish(const pipeline::RequestOutcome& outcome, WorkerSlot* slot) const {}
};

using PolicyConstSharedPtr = std::shared_ptr<const Policy>;

}  // namespace fwd::dataplane::policy
