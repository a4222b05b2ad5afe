#include "dataplane/proxy/upstream_pool.h"

namespace fwd::dataplane::proxy {

std::unique_ptr<UpstreamConn> UpstreamPool::acquire(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) {
    return nullptr;
  }
  auto& conns = it->second;
  auto now = std::chrono::steady_clock::now();
  while (!conns.empty()) {
    // Most recently used first: it is the least likely to have been closed by the upstream.
    std::unique_ptr<UpstreamConn> conn = std::move(conns.back());
    conns.pop_back();
    if (now - conn->idle_since < idle_timeout_) {
      conn->reused = true;
      return conn;
    }
  }
  return nullptr;
}

void UpstreamPool::release(const std::string& key, std::unique_ptr<UpstreamConn> conn) {
  auto& conns = idle_[key];
  if (conns.size() >= max_idle_per_key_) {
    conns.erase(conns.begin());  // drop the oldest
  }
  conn->idle_since = std::chrono::steady_clock::now();
  conns.push_back(std::move(conn));
}

size_t UpstreamPool::idleCount() const {
  size_t n = 0;
  for (const auto& [key, conns] : idle_) {
    n += conns.size();
  }
  return n;
}

}  // namespace fwd::dataplane::proxy
