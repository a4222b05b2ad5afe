// The records policy: every request the data plane finishes becomes one record (record_entry.h)
// in its worker's ring, for the recorder (recorder.h) to send. On the request it turns on the
// relay's answer scan (usage/answer_scan.h), which reads the usage an upstream reported without
// taking the answer off its byte-for-byte path; at finish it fills the ring slot in place. In
// the chain of every snapshot while the data plane records (fwd-dataplane --records central).
#pragma once

#include <memory>
#include <string_view>

#include "dataplane/policy/policy.h"
#include "dataplane/records/record_entry.h"
#include "dataplane/usage/prices.h"

namespace fwd::dataplane::records {

class Recorder;

class RecordRequests : public policy::Policy {
 public:
  /// `any_log_bodies`: a key or route of the snapshot has its records carry bodies.
  RecordRequests(Recorder& recorder, std::shared_ptr<const usage::PriceTable> prices,
                 bool any_log_bodies = false);

  std::string_view name() const override { return "records"; }
  unsigned hooks() const override {
    return policy::kOnClient | policy::kOnRequest | policy::kOnFinish;
  }

  std::optional<proxy::ApiError> onClient(pipeline::RequestContext& ctx,
                                          policy::WorkerSlot* slot) const override;
  std::optional<proxy::ApiError> onRequest(pipeline::RequestContext& ctx,
                                           policy::WorkerSlot* slot) const override;
  void onFinish(const pipeline::RequestOutcome& outcome, policy::WorkerSlot* slot) const override;

 private:
  Recorder& recorder_;
  std::shared_ptr<const usage::PriceTable> prices_;
  // Every request keeps its bodies from onRequest on: the JSONL files want them, or a route
  // might (the route is not known yet then). Otherwise only a key with log_bodies makes them.
  bool bodies_always_;
};

/// What a request came to, as a record says it: ok, error, partial, client_cancelled or
/// rate_limited.
fwd::v1::Outcome recordOutcome(int status, std::string_view error_code, bool first_byte_sent);

/// True when a JSON request body carries images, audio or files (content parts of the chat or
/// Responses API), or the path is an audio or image endpoint.
bool isMultimodal(std::string_view path, std::string_view body);

}  // namespace fwd::dataplane::records
