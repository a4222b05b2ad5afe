#include "dataplane/rewrite/request_edits.h"

#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::rewrite {

bool isEditablePath(std::string_view api_path) {
  return api_path == "/v1/chat/completions" || api_path == "/v1/completions";
}

void RequestEdits::onAttempt(const pipeline::RequestContext& ctx,
                             const config::UpstreamTarget& upstream, BodyEdits& edits,
                             policy::WorkerSlot* /*slot*/) const {
  // A body with a model is a JSON object (inspect checked it).
  if (!ctx.body.has_model || !isEditablePath(ctx.path)) {
    return;
  }
  const BodyEdits& add = config::attemptEdits(ctx.route, upstream).body;
  edits.max_tokens_cap = add.max_tokens_cap;
  edits.stop = add.stop;
  edits.drop_empty_messages = add.drop_empty_messages;
  edits.strip_think = add.strip_think;
}

}  // namespace fwd::dataplane::rewrite
