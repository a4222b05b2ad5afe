// The policies of one snapshot in the order the pipeline calls them, and per worker the slots
// they keep their state in. The chain is immutable and shared; a request with no policy
// configured finds every hook list empty and runs no policy code.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "dataplane/policy/policy.h"

namespace fwd::dataplane::policy {

class Chain {
 public:
  Chain() = default;
  /// `policies` in call order.
  explicit Chain(std::vector<PolicyConstSharedPtr> policies);

  bool empty() const { return policies_.empty(); }
  size_t size() const { return policies_.size(); }
  const Policy& at(size_t i) const { return *policies_[i]; }
  /// True when some policy has `hook`: the pipeline skips the call site otherwise.
  bool has(Hook hook) const { return (hooks_ & hook) != 0; }

  /// One worker's slots for this chain: slot i belongs to policy i (nullptr when it keeps none).
  using Slots = std::vector<std::unique_ptr<WorkerSlot>>;
  Slots makeWorkerSlots() const;

  /// Calls the policies with the hook, in order, until one refuses the request.
  std::optional<proxy::ApiError> onClient(pipeline::RequestContext& ctx, const Slots& slots) const;
  std::optional<proxy::ApiError> onKey(pipeline::RequestContext& ctx, const Slots& slots) const;
  std::optional<proxy::ApiError> onRequest(pipeline::RequestContext& ctx, const Slots& slots) const;
  proxy::Task<std::optional<proxy::ApiError>> awaitRequest(pipeline::RequestContext& ctx,
                                                           const Slots& slots) const;
  /// Calls every policy with the hook, in order.
  void onError(const pipeline::RequestContext& ctx, ErrorAnswer& answer, const Slots& slots) const;
  void onComplete(pipeline::RequestContext& ctx, int status, const Slots& slots) const;
  void onFinish(const pipeline::RequestOutcome& outcome, const Slots& slots) const;
  void onResponseHead(const pipeline::RequestContext& ctx, ResponseHead& head,
                      const Slots& slots) const;
  void onAttempt(const pipeline::RequestContext& ctx, const config::UpstreamTarget& upstream,
                 rewrite::BodyEdits& edits, const Slots& slots) const;
  /// The policies (bit i: policy i) that read this answer's body; 0 when none does.
  using Readers = std::uint64_t;
  Readers wantsAnswer(const pipeline::RequestContext& ctx, const Slots& slots) const;
  /// Calls the `readers` in order with `part`, dropping from `readers` each that wants no more.
  void onAnswer(pipeline::RequestContext& ctx, AnswerPart& part, Readers& readers,
                const Slots& slots) const;

 private:
  // Indexes into policies_ of the policies with `hook`, in order.
  const std::vector<size_t>& with(Hook hook) const;

  std::vector<PolicyConstSharedPtr> policies_;
  unsigned hooks_ = 0;
  std::array<std::vector<size_t>, kHookCount> by_hook_;
};

}  // namespace fwd::dataplane::policy
