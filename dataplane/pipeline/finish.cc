#include "dataplane/pipeline/finish.h"

#include <string>

namespace fwd::dataplane::pipeline {
namespace {

double secondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Through the snapshot's handles (no label hashing) once the request pinned one; a request that
// ended before (no config yet) by its labels.
void countInMetrics(RequestContext& ctx, const RequestOutcome& o) {
  if (ctx.pinned) {
    ctx.pinned->metrics.requests(o.route, o.model, o.upstream, o.status).add();
    ctx.pinned->metrics.requestDuration(o.route, o.upstream).observe(o.seconds);
    return;
  }
  WorkerContext& w = ctx.w;
  w.metrics.requests.cell(w.index, {o.route, o.model, o.upstream, std::to_string(o.status)}).add();
  w.metrics.request_duration.cell(w.index, {o.route, o.upstream}).observe(o.seconds);
}

}  // namespace

void finish(RequestContext& ctx) {
  auto end = Clock::now();
  RequestOutcome outcome;
  outcome.status = ctx.status;
  outcome.route = ctx.route_name;
  outcome.model = ctx.model_label;
  outcome.served_model = ctx.served_model.empty() ? std::string_view(ctx.model) : ctx.served_model;
  outcome.upstream = ctx.upstream != nullptr ? std::string_view(ctx.upstream->name) : "";
  outcome.key = ctx.key;
  outcome.attempts = ctx.attempts;
  outcome.seconds = secondsBetween(ctx.start, end);
  if (ctx.first_byte) {
    outcome.first_byte = secondsBetween(ctx.start, *ctx.first_byte);
  }
  outcome.error_code = ctx.error_code;
  outcome.limits = &ctx.limits;
  outcome.route_limits = &ctx.route_limits;
  outcome.usage = &ctx.usage;
  outcome.stream = ctx.body.stream;
  outcome.worker = &ctx.w;
  outcome.request = &ctx;
  countInMetrics(ctx, outcome);
  if (ctx.cfg != nullptr && ctx.policies().has(policy::kOnFinish)) {
    ctx.policies().onFinish(outcome, ctx.policySlots());
  }
}

std::string_view modelLabel(WorkerContext& w, std::string_view model) {
  auto it = w.model_labels.find(model);
  if (it != w.model_labels.end()) {
    return *it;
  }
  if (w.model_labels.size() >= w.options.max_model_labels) {
    return "other";
  }
  return *w.model_labels.emplace(model).first;
}

}  // namespace fwd::dataplane::pipeline
