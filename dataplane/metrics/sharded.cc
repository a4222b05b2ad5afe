#include "dataplane/metrics/sharded.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <map>

namespace fwd::dataplane::metrics {
namespace {

constexpr char kSep = '\x1f';

std::vector<std::string> splitKey(const std::string& key, size_t n) {
  std::vector<std::string> out;
  out.reserve(n);
  size_t start = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t end = key.find(kSep, start);
    out.push_back(key.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

template <typename Cell>
std::unique_ptr<Cell> makeCell(const std::vector<double>* bounds) {
  if constexpr (std::is_same_v<Cell, SingleWriterHistogram>) {
    return std::make_unique<Cell>(bounds);
  } else {
    return std::make_unique<Cell>();
  }
}

}  // namespace

SingleWriterHistogram::SingleWriterHistogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<std::uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    buckets_[i].store(0, std::memory_order_relaxed);
  }
}

void SingleWriterHistogram::observe(double value) {
  size_t i = std::lower_bound(bounds_->begin(), bounds_->end(), value) - bounds_->begin();
  buckets_[i].store(buckets_[i].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  sum_.store(sum_.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
}

template <typename Cell>
ShardedFamily<Cell>::ShardedFamily(std::string name, std::string help, prometheus::MetricType type,
                                   std::vector<std::string> label_names, size_t shards,
                                   const std::vector<double>* bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bounds_(bounds) {
  for (size_t i = 0; i < shards; ++i) {
    shards_.push_back(std::make_unique<Shard>());
  }
}

template <typename Cell>
Cell& ShardedFamily<Cell>::cell(size_t shard, std::initializer_list<std::string_view> values) {
  assert(values.size() == label_names_.size());
  Shard& s = *shards_[shard];
  s.scratch.clear();
  for (std::string_view v : values) {
    s.scratch.append(v);
    s.scratch.push_back(kSep);
  }
  auto it = s.cells.find(s.scratch);
  if (it != s.cells.end()) {
    return *it->second;
  }
  std::lock_guard<std::mutex> lock(s.mu);
  auto [pos, inserted] = s.cells.emplace(s.scratch, makeCell<Cell>(bounds_));
  return *pos->second;
}

template <typename Cell>
prometheus::MetricFamily ShardedFamily<Cell>::collect() const {
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = help_;
  family.type = type_;
  // Merge shards by label set; std::map keeps the exposition order stable.
  std::map<std::string, prometheus::ClientMetric> merged;
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    for (const auto& [key, cell] : shard->cells) {
      auto [it, inserted] = merged.try_emplace(key);
      prometheus::ClientMetric& m = it->second;
      if (inserted) {
        auto values = splitKey(key, label_names_.size());
        for (size_t i = 0; i < label_names_.size(); ++i) {
          m.label.push_back({label_names_[i], values[i]});
        }
      }
      if constexpr (std::is_same_v<Cell, SingleWriterCounter>) {
        m.counter.value += static_cast<double>(cell->value()) * scale_;
      } else if constexpr (std::is_same_v<Cell, SingleWriterGauge>) {
        m.gauge.value += static_cast<double>(cell->value());
      } else {
        auto& h = m.histogram;
        if (inserted) {
          for (double b : cell->bounds()) {
            h.bucket.push_back({0, b});
          }
          h.bucket.push_back({0, std::numeric_limits<double>::infinity()});
        }
        std::uint64_t cumulative = 0;
        for (size_t i = 0; i < h.bucket.size(); ++i) {
          cumulative += cell->bucket(i);
          h.bucket[i].cumulative_count += cumulative;
        }
        h.sample_count += cumulative;
        h.sample_sum += cell->sum();
      }
    }
  }
  for (auto& [key, m] : merged) {
    family.metric.push_back(std::move(m));
  }
  return family;
}

template class ShardedFamily<SingleWriterCounter>;
template class ShardedFamily<SingleWriterGauge>;
template class ShardedFamily<SingleWriterHistogram>;

}  // namespace fwd::dataplane::metrics
