// Errors as 200 (for legacy clients that only read a 200's body): every error fwd answers, and
// every error status an upstream's response carries, goes out with status 200; the body is
// unchanged (the OpenAI error object) and x-fwd-status carries the real status. Per key
// (`fwdctl key create|update --errors-as-200`) or for everyone (`fwdctl settings set
// errors_as_200 true`), which also covers errors before a key is known (401). The status in
// metrics and records stays the real one. A stream cut mid-way already has its 200 and ends with
// an error event either way.
#pragma once

#include "dataplane/policy/policy.h"

namespace fwd::dataplane::compat {

class ErrorsAs200 final : public policy::Policy {
 public:
  /// `everyone`: the global setting; otherwise only for keys that ask for it.
  explicit ErrorsAs200(bool everyone) : everyone_(everyone) {}

  std::string_view name() const override { return "errors_as_200"; }
  unsigned hooks() const override { return policy::kOnError | policy::kOnResponseHead; }

  void onError(const pipeline::RequestContext& ctx, policy::ErrorAnswer& answer,
               policy::WorkerSlot* slot) const override;
  void onResponseHead(const pipeline::RequestContext& ctx, policy::ResponseHead& head,
                      policy::WorkerSlot* slot) const override;

 private:
  bool appliesTo(const pipeline::RequestContext& ctx) const;

  bool everyone_;
};

}  // namespace fwd::dataplane::compat
