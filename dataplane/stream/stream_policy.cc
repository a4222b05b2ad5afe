#include "dataplane/stream/stream_policy.h"

#include "dataplane/pipeline/request_context.h"
#include "dataplane/stream/convert.h"

namespace fwd::dataplane::stream {

void StreamConversion::onAttempt(const pipeline::RequestContext& ctx,
                                 const config::UpstreamTarget& upstream, rewrite::BodyEdits& edits,
                                 policy::WorkerSlot*) const {
  // A body with a model is a JSON object (inspect checked it).
  if (!ctx.body.has_model || !convertibleApi(ctx.path)) {
    return;
  }
  std::optional<bool> ask = config::attemptEdits(ctx.route, upstream).upstream_stream;
  if (!ask || *ask == ctx.body.stream) {
    return;
  }
  edits.stream = *ask;
  if (*ask) {
    edits.include_usage = true;  // the one answer has its usage, as a JSON answer does
  }
}

}  // namespace fwd::dataplane::stream
