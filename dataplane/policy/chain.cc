#include "dataplane/policy/chain.h"

#include <bit>

namespace fwd::dataplane::policy {

Chain::Chain(std::vector<PolicyConstSharedPtr> policies) : policies_(std::move(policies)) {
  for (size_t i = 0; i < policies_.size(); ++i) {
    unsigned hooks = policies_[i]->hooks();
    hooks_ |= hooks;
    for (unsigned bit = 0; bit < by_hook_.size(); ++bit) {
      if ((hooks & (1u << bit)) != 0) {
        by_hook_[bit].push_back(i);
      }
    }
  }
}

const std::vector<size_t>& Chain::with(Hook hook) const {
  return by_hook_[static_cast<size_t>(std::countr_zero(static_cast<unsigned>(hook)))];
}

Chain::Slots Chain::makeWorkerSlots() const {
  Slots slots;
  slots.reserve(policies_.size());
  for (const auto& p : policies_) {
    slots.push_back(p->makeWorkerSlot());
  }
  return slots;
}

std::optional<proxy::ApiError> Chain::onClient(pipeline::RequestContext& ctx,
                                               const Slots& slots) const {
  for (size_t i : with(kOnClient)) {
    if (auto refused = policies_[i]->onClient(ctx, slots[i].get())) {
      return refused;
    }
  }
  return std::nullopt;
}

std::optional<proxy::ApiError> Chain::onKey(pipeline::RequestContext& ctx,
                                            const Slots& slots) const {
  for (size_t i : with(kOnKey)) {
    if (auto refused = policies_[i]->onKey(ctx, slots[i].get())) {
      return refused;
    }
  }
  return std::nullopt;
}

std::optional<proxy::ApiError> Chain::onRequest(pipeline::RequestContext& ctx,
                                                const Slots& slots) const {
  for (size_t i : with(kOnRequest)) {
    if (auto refused = policies_[i]->onRequest(ctx, slots[i].get())) {
      return refused;
    }
  }
  return std::nullopt;
}

proxy::Task<std::optional<proxy::ApiError>> Chain::awaitRequest(pipeline::RequestContext& ctx,
                                                                const Slots& slots) const {
  for (size_t i : with(kAwaitRequest)) {
    if (auto refused = co_await policies_[i]->awaitRequest(ctx, slots[i].get())) {
      co_return refused;
    }
  }
  co_return std::nullopt;
}

void Chain::onError(const pipeline::RequestContext& ctx, ErrorAnswer& answer,
                    const Slots& slots) const {
  for (size_t i : with(kOnError)) {
    policies_[i]->onError(ctx, answer, slots[i].get());
  }
}

void Chain::onResponseHead(const pipeline::RequestContext& ctx, ResponseHead& head,
                           const Slots& slots) const {
  for (size_t i : with(kOnResponseHead)) {
    policies_[i]->onResponseHead(ctx, head, slots[i].get());
  }
}

void Chain::onAttempt(const pipeline::RequestContext& ctx, const config::UpstreamTarget& upstream,
                      rewrite::BodyEdits& edits, const Slots& slots) const {
  for (size_t i : with(kOnAttempt)) {
    policies_[i]->onAttempt(ctx, upstream, edits, slots[i].get());
  }
}

Chain::Readers Chain::wantsAnswer(const pipeline::RequestContext& ctx, const Slots& slots) const {
  Readers readers = 0;
  for (size_t i : with(kOnAnswer)) {
    if (i < 64 && policies_[i]->wantsAnswer(ctx, slots[i].get())) {
      readers |= Readers{1} << i;
    }
  }
  return readers;
}

void Chain::onAnswer(pipeline::RequestContext& ctx, AnswerPart& part, Readers& readers,
                     const Slots& slots) const {
  for (size_t i : with(kOnAnswer)) {
    Readers bit = i < 64 ? Readers{1} << i : 0;
    if ((readers & bit) != 0 && !policies_[i]->onAnswer(ctx, part, slots[i].get())) {
      readers &= ~bit;
    }
  }
}

void Chain::onComplete(pipeline::RequestContext& ctx, int status, const Slots& slots) const {
  for (size_t i : with(kOnComplete)) {
    policies_[i]->onComplete(ctx, status, slots[i].get());
  }
}

void Chain::onFinish(const pipeline::RequestOutcome& outcome, const Slots& slots) const {
  for (size_t i : with(kOnFinish)) {
    policies_[i]->onFinish(outcome, slots[i].get());
  }
}

}  // namespace fwd::dataplane::policy
