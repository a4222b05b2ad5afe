// Request edits (fwdctl upstream|route add|update --max-tokens-cap N --stop WORD
// --drop-empty-messages --strip-think): before each attempt, the edits of the upstream it goes
// to (under the route's) join the body edits of that attempt. The pipeline applies them to the
// body as the client sent it, with the route's model rewrite, in one parse (body_edits.h), so a
// failover to an upstream with other edits starts again from the client's body. Only chat and
// text completions are edited; other endpoints keep their body.
#pragma once

#include <string_view>

#include "dataplane/policy/policy.h"

namespace fwd::dataplane::rewrite {

/// True for the API paths (from "/v1/", no query) whose requests and answers are edited:
/// /v1/chat/completions and /v1/completions.
bool isEditablePath(std::string_view api_path);

class RequestEdits final : public policy::Policy {
 public:
  std::string_view name() const override { return "request_edits"; }
  unsigned hooks() const override { return policy::kOnAttempt; }

  void onAttempt(const pipeline::RequestContext& ctx, const config::UpstreamTarget& upstream,
                 BodyEdits& edits, policy::WorkerSlot* slot) const override;
};

}  // namespace fwd::dataplane::rewrite
