#include "controlplane/service/limits_queries.h"

#include <algorithm>

namespace fwd::controlplane::service {

void LimitsQueries::attach(StreamId stream, const std::string& node_id) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_[stream].node_id = node_id;
}

void LimitsQueries::detach(StreamId stream) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    streams_.erase(stream);
    for (auto& [id, p] : pending_) {
      if (p.stream == stream) {
        p.done = true;
      }
    }
  }
  answered_.notify_all();
}

std::vector<fwd::v1::LimitsQuery> LimitsQueries::take(StreamId stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) {
    return {};
  }
  return std::exchange(it->second.queued, {});
}

void LimitsQueries::answer(StreamId stream, const fwd::v1::LimitsAnswer& answer) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(answer.id());
    // Only the stream it was sent on answers a query: a node cannot answer for another.
    if (it == pending_.end() || it->second.stream != stream || it->second.done) {
      return;
    }
    it->second.done = true;
    it->second.answer = answer;
  }
  answered_.notify_all();
}

std::vector<LimitsQueries::Reply> LimitsQueries::ask(
    std::uint64_t key_id, std::chrono::steady_clock::time_point deadline) {
  std::vector<std::uint64_t> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [stream_id, stream] : streams_) {
      std::uint64_t id = next_id_++;
      Pending& p = pending_[id];
      p.stream = stream_id;
      p.node_id = stream.node_id;
      if (stream.queued.size() < kMaxQueuedPerStream) {
        fwd::v1::LimitsQuery& q = stream.queued.emplace_back();
        q.set_id(id);
        q.set_key_id(key_id);
      }
      ids.push_back(id);
    }
  }
  if (ids.empty()) {
    return {};
  }
  wake_();
  std::vector<Reply> replies;
  std::unique_lock<std::mutex> lock(mu_);
  answered_.wait_until(lock, deadline, [&] {
    return std::all_of(ids.begin(), ids.end(), [&](std::uint64_t id) { return pending_[id].done; });
  });
  for (std::uint64_t id : ids) {
    auto it = pending_.find(id);
    replies.push_back({it->second.node_id, std::move(it->second.answer)});
    pending_.erase(it);
  }
  std::sort(replies.begin(), replies.end(),
            [](const Reply& a, const Reply& b) { return a.node_id < b.node_id; });
  return replies;
}

}  // namespace fwd::controlplane::service
