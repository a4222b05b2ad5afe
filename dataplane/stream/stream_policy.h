// The stream conversion policy (fwdctl upstream|route add|update --stream-mode): before each
// attempt, when the upstream (under the route) is to be asked for a stream and the client did
// not ask for one, or the other way round, the attempt's body edits set "stream" (and, for a
// stream, stream_options.include_usage, so the assembled answer has its usage). The relay then
// sees that the answer's shape differs from the client's and converts it (convert.h). Chat and
// text completions only. In the chain of every snapshot where an upstream or route sets a
// stream mode other than passthrough.
#pragma once

#include "dataplane/policy/policy.h"

namespace fwd::dataplane::stream {

class StreamConversion final : public policy::Policy {
 public:
  std::string_view name() const override { return "stream_conversion"; }
  unsigned hooks() const override { return policy::kOnAttempt; }

  void onAttempt(const pipeline::RequestContext& ctx, const config::UpstreamTarget& upstream,
                 rewrite::BodyEdits& edits, policy::WorkerSlot* slot) const override;
};

}  // namespace fwd::dataplane::stream
