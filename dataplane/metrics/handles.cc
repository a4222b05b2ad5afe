#include "dataplane/metrics/handles.h"

#include <functional>
#include <string>

namespace fwd::dataplane::metrics {
namespace {

size_t mix(size_t h, const void* p) {
  return (h ^ std::hash<const void*>{}(p)) * 0x9E3779B97F4A7C15ull;
}

}  // namespace

template <typename Cell, typename... Labels>
Cell& WorkerHandles::kept(Cell*& handle, ShardedFamily<Cell>& family, Labels... labels) {
  if (handle == nullptr) {
    handle = &family.cell(shard_, {labels...});
  }
  return *handle;
}

WorkerHandles::Upstream& WorkerHandles::upstream(size_t index) {
  if (by_upstream_.empty()) {
    by_upstream_.resize(upstreams_);
  }
  return by_upstream_[index];
}

SingleWriterGauge& WorkerHandles::upstreamInFlight(size_t index, std::string_view name) {
  return kept(upstream(index).in_flight, metrics_->upstream_in_flight, name);
}

SingleWriterHistogram& WorkerHandles::upstreamDuration(size_t index, std::string_view name) {
  return kept(upstream(index).duration, metrics_->upstream_duration, name);
}

SingleWriterHistogram& WorkerHandles::streamTtfb(size_t index, std::string_view name) {
  return kept(upstream(index).stream_ttfb, metrics_->stream_ttfb, name);
}

SingleWriterCounter& WorkerHandles::streamedEvents(size_t index, std::string_view name) {
  return kept(upstream(index).streamed_events, metrics_->streamed_events, name);
}

SingleWriterCounter& WorkerHandles::upstreamRetries(size_t index, std::string_view name) {
  return kept(upstream(index).retries, metrics_->upstream_retries, name);
}

SingleWriterCounter& WorkerHandles::upstreamAttempts(size_t index, std::string_view name,
                                                     std::string_view outcome) {
  if (outcome != "ok") {
    return metrics_->upstream_attempts.cell(shard_, {name, outcome});
  }
  return kept(upstream(index).attempts_ok, metrics_->upstream_attempts, name, "ok");
}

WorkerHandles::RequestSlot& WorkerHandles::slot(const RequestKey& key) {
  size_t h = mix(mix(mix(static_cast<size_t>(key.status), key.route), key.model), key.upstream);
  return (key.status < 0 ? durations_ : requests_)[(h >> 32) & (kSlots - 1)];
}

SingleWriterCounter& WorkerHandles::requests(std::string_view route, std::string_view model,
                                             std::string_view upstream, int status) {
  RequestKey key{route.data(), model.data(), upstream.data(), status};
  RequestSlot& s = slot(key);
  if (s.requests == nullptr || !(s.key == key)) {
    s.key = key;
    s.requests = &metrics_->requests.cell(shard_, {route, model, upstream, std::to_string(status)});
  }
  return *s.requests;
}

WorkerHandles::UsageCells& WorkerHandles::usage(std::string_view model, std::string_view upstream,
                                                std::string_view key) {
  const bool keyed = metrics_->keyLabel();
  const char* key_id = keyed ? key.data() : nullptr;
  size_t h = mix(mix(mix(0, model.data()), upstream.data()), key_id);
  UsageSlot& s = usage_[(h >> 32) & (kSlots - 1)];
  if (s.cells.prompt == nullptr || s.model != model.data() || s.upstream != upstream.data() ||
      s.key != key_id) {
    s.model = model.data();
    s.upstream = upstream.data();
    s.key = key_id;
    auto tokens = [&](std::string_view kind) {
      return keyed ? &metrics_->tokens.cell(shard_, {key, model, upstream, kind})
                   : &metrics_->tokens.cell(shard_, {model, upstream, kind});
    };
    auto cell = [&](CounterFamily& family) {
      return keyed ? &family.cell(shard_, {key, model, upstream})
                   : &family.cell(shard_, {model, upstream});
    };
    s.cells.prompt = tokens("prompt");
    s.cells.completion = tokens("completion");
    s.cells.cached = tokens("cached");
    s.cells.reasoning = tokens("reasoning");
    s.cells.cost_nano_usd = cell(metrics_->cost);
    s.cells.estimated = cell(metrics_->usage_estimated);
  }
  return s.cells;
}

SingleWriterHistogram& WorkerHandles::requestDuration(std::string_view route,
                                                      std::string_view upstream) {
  RequestKey key{route.data(), nullptr, upstream.data(), -1};
  RequestSlot& s = slot(key);
  if (s.duration == nullptr || !(s.key == key)) {
    s.key = key;
    s.duration = &metrics_->request_duration.cell(shard_, {route, upstream});
  }
  return *s.duration;
}

}  // namespace fwd::dataplane::metrics
