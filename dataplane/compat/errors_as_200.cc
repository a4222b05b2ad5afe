#include "dataplane/compat/errors_as_200.h"

#include "dataplane/pipeline/request_context.h"

namespace fwd::dataplane::compat {

bool ErrorsAs200::appliesTo(const pipeline::RequestContext& ctx) const {
  return everyone_ || (ctx.key != nullptr && ctx.key->errors_as_200);
}

void ErrorsAs200::onError(const pipeline::RequestContext& ctx, policy::ErrorAnswer& answer,
                          policy::WorkerSlot*) const {
  if (answer.status >= 400 && appliesTo(ctx)) {
    answer.status = 200;
    answer.status_header = true;
  }
}

void ErrorsAs200::onResponseHead(const pipeline::RequestContext& ctx, policy::ResponseHead& head,
                                 policy::WorkerSlot*) const {
  if (head.status >= 400 && appliesTo(ctx)) {
    head.send_status = 200;
  }
}

}  // namespace fwd::dataplane::compat
